/**
 * People admin data routes that tests use to set the scene in bulk.
 */
import { startEmulator, type RunningEmulator } from '../src/server';
import { EmulatorAdmin, SCOPES, googleClients, type Tenant } from '../src/testing';

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let t: Tenant;
const AGENT = 'agent@bulk.test';

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
  t = await admin.tenant('bulk.test', [AGENT, 'other@bulk.test'], [SCOPES.contacts]);
});
afterAll(() => emu.close());

test('DELETE /users/{email}/contacts deletes every contact of that user only, each reported deleted to an incremental sync', async () => {
  const people = googleClients(emu.url, t.key, AGENT, [SCOPES.contacts]).people.people;
  await admin.request('POST', `/users/${AGENT}/contacts`, [
    { names: [{ givenName: 'A' }] },
    { names: [{ givenName: 'B' }] },
    { names: [{ givenName: 'C' }] },
  ]);
  await admin.request('POST', '/users/other@bulk.test/contacts', { names: [{ givenName: 'Kept' }] });
  const full = await people.connections.list({
    resourceName: 'people/me',
    personFields: 'names,metadata',
    requestSyncToken: true,
  });
  const names = full.data.connections!.map((p) => p.resourceName);
  expect(names).toHaveLength(3);

  expect(await admin.request('DELETE', `/users/${AGENT}/contacts`)).toEqual({ status: 200, body: { deleted: 3 } });
  expect((await admin.request('GET', `/users/${AGENT}/contacts`)).body).toEqual([]);
  expect((await admin.request<unknown[]>('GET', '/users/other@bulk.test/contacts')).body).toHaveLength(1);
  const inc = await people.connections.list({
    resourceName: 'people/me',
    personFields: 'names,metadata',
    requestSyncToken: true,
    syncToken: full.data.nextSyncToken!,
  });
  expect(inc.data.connections!.map((p) => [p.resourceName, p.metadata?.deleted])).toEqual(names.map((n) => [n, true]));

  expect(await admin.request('DELETE', `/users/${AGENT}/contacts`)).toEqual({ status: 200, body: { deleted: 0 } });
  expect((await admin.request('DELETE', '/users/nobody@bulk.test/contacts')).status).toBe(404);
});
