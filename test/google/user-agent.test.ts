/**
 * Every Google call names the gateway and the process that made it in its User-Agent (`engage-gateway/<version>
 * (<process>)`, before the Google client's own product), so Google's logs (and the emulator's request log, in the
 * replica tests) tell which replica worked an agent's mailbox. The process is the outbox worker's lease owner.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeEachDb } from '../support/db';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const VERSION = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string })
  .version;

describeEachDb('the User-Agent of Google calls', (db) => {
  let w: World;

  beforeAll(async () => {
    w = await startWorld(db());
  });
  afterAll(() => w.close());

  test('a queued write and a read both name the gateway, its version and this process (the lease owner)', async () => {
    const token = await w.token(AGENT);
    expect(
      (await w.gw.gql('mutation { createContact(input: { givenName: "Ada" }) { syncState } }', { token })).body.data
        .createContact.syncState,
    ).toBe('SYNCED');
    expect(
      (await w.gw.gql('{ events(from: "2026-12-01T00:00:00Z", to: "2026-12-02T00:00:00Z") { totalCount } }', { token }))
        .body.errors,
    ).toBeUndefined();
    const calls = (await w.admin.requests({ user: AGENT })).filter((r) => r.api !== 'token');
    const expected = `engage-gateway/${VERSION} (${w.gw.services.outbox.owner}) google-api-nodejs-client/`;
    expect(calls.map((r) => r.method)).toEqual(
      expect.arrayContaining(['people.people.batchCreateContacts', 'calendar.events.list']),
    );
    for (const r of calls)
      expect({ method: r.method, userAgent: r.userAgent?.slice(0, expected.length) }).toEqual({
        method: r.method,
        userAgent: expected,
      });
  });
});
