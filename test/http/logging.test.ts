/** Errors reach the log as name, message, code, status and stack: never the request or answer they carry. */
import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger';

test('a Google client error or a database error is logged without the data it carries', () => {
  let out = '';
  const log = createLogger('info', new Writable({ write(chunk, _enc, cb) { out += chunk; cb(); } }) as never);
  const google = Object.assign(new Error('Request failed with status code 500'), {
    name: 'GaxiosError',
    status: 500,
    config: { data: { raw: 'U0VDUkVULU1JTUUtQk9EWQ', description: 'Showing for Zoë, door code 4471' }, headers: { Authorization: 'Bearer ya29.secret' } },
    response: { status: 500, data: { error: { message: 'backend error' } }, config: { body: 'attachment bytes' } },
    cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
  });
  const db = Object.assign(new Error('Lock wait timeout exceeded'), { name: 'QueryFailedError', code: 'ER_LOCK_WAIT_TIMEOUT', parameters: ['zoe@buyer.test', 'Subject: offer', 'UEFZTE9BRA=='], query: 'INSERT INTO mail_mime_chunk ...' });
  log.error({ err: google }, 'google failed');
  log.error({ err: db }, 'db failed');
  const [g, d] = out.trim().split('\n').map((l) => JSON.parse(l));
  expect(g.err).toMatchObject({ type: 'GaxiosError', message: 'Request failed with status code 500', status: 500, cause: { code: 'ECONNRESET', message: 'socket hang up' } });
  expect(d.err).toMatchObject({ type: 'QueryFailedError', code: 'ER_LOCK_WAIT_TIMEOUT' });
  for (const secret of ['U0VDUkVU', 'door code', 'ya29', 'attachment bytes', 'zoe@buyer.test', 'Subject: offer', 'UEFZTE9BRA', 'mail_mime_chunk']) expect(out).not.toContain(secret);
});
