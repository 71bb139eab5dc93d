/**
 * GOOGLE_PEOPLE_ROOT_URL, GOOGLE_CALENDAR_ROOT_URL and GOOGLE_GMAIL_ROOT_URL each move one API, and only that one,
 * away from GOOGLE_API_ROOT_URL: here onto a recording relay in front of the emulator, so the calls still work and
 * the relay shows which ones it carried.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { createTestDb, type TestDb } from '../support/db';
import { startWorld } from '../support/world';

/** Forwards every request to `target` as it came, and records "METHOD /path". */
async function recordingRelay(target: string): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const to = new URL(req.url!, target);
    const up = request(to, { method: req.method, headers: { ...req.headers, host: to.host } }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const PATHS = {
  people: /^[A-Z]+ \/v1\/(people|contactGroups)/,
  calendar: /^[A-Z]+ \/calendar\/v3\//,
  gmail: /^[A-Z]+ \/(upload\/)?gmail\/v1\//,
} as const;

describe('per-API Google roots', () => {
  let emu: RunningEmulator;
  let db: TestDb & { drop(): Promise<void> };
  beforeAll(async () => {
    emu = await startEmulator();
    db = await createTestDb('sqlite');
  });
  afterAll(async () => {
    await db.drop();
    await emu.close();
  });

  test.each([
    ['people', 'GOOGLE_PEOPLE_ROOT_URL'],
    ['calendar', 'GOOGLE_CALENDAR_ROOT_URL'],
    ['gmail', 'GOOGLE_GMAIL_ROOT_URL'],
  ] as const)("%s: %s carries that API's calls, and no other's", async (api, variable) => {
    const relay = await recordingRelay(emu.url);
    const domain = `${api}.test`;
    const w = await startWorld(db, { emu, domain, env: { [variable]: relay.url, MUTATION_WAIT_MS: '60000' } });
    try {
      expect(w.gw.config.google.roots[api]).toBe(relay.url);
      relay.seen.length = 0;
      const token = await w.token(`agent@${domain}`);
      // One call of each API, all of which must still work.
      const contacts = await w.gw.gql('{ contacts { totalCount } }', { token });
      expect(contacts.body.data.contacts.totalCount).toBe(0);
      const events = await w.gw.gql(
        '{ events(from: "2027-01-01T00:00:00Z", to: "2027-02-01T00:00:00Z") { totalCount } }',
        { token },
      );
      expect(events.body.data.events.totalCount).toBe(0);
      const mail = await w.gw.gql(
        'mutation { sendMail(input: { to: ["client@buyer.test"], subject: "Hi", text: "Hello" }) { status } }',
        { token },
      );
      expect(mail.body.data.sendMail.status).toBe('SENT');

      expect(relay.seen.length).toBeGreaterThan(0);
      expect(relay.seen.filter((line) => !PATHS[api].test(line))).toEqual([]);
      // Everything of that API went through the relay: the emulator saw no call of it that the relay did not carry.
      const direct = (await w.admin.requests({ api })).filter((r) => r.user === `agent@${domain}`);
      expect(direct.length).toBe(relay.seen.length);
    } finally {
      await w.close();
      await relay.close();
    }
  });
});
