/**
 * Node's HTTP server makes every request and response with express's prototypes already (http/express-prototypes.ts),
 * so express's own Object.setPrototypeOf on each of them changes nothing. Changing the prototype of a live object is
 * what made V8 keep every object a request had made (see the module's header).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/data-source';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';
import { prototypeChangesDuring } from '../support/prototypes';

let gw: TestGateway;
let close: () => Promise<void>;

beforeAll(async () => {
  const ds = await openDatabase({
    kind: 'sqlite',
    path: join(mkdtempSync(join(tmpdir(), 'engage-proto-')), 'db.sqlite'),
  });
  await seedBrokerage(ds, 'proto.test', [{ email: 'agent@proto.test' }]);
  gw = await startTestGateway(ds);
  close = async () => {
    await gw.close();
    await ds.destroy();
  };
});
afterAll(() => close());

test('a request to /graphql, /healthz or an unknown path changes no prototype of a request or response', async () => {
  const changed = await prototypeChangesDuring(async () => {
    const token = await gw.token('agent@proto.test');
    const me = await gw.gql('{ me { email } }', { token });
    expect(me.body.data.me.email).toBe('agent@proto.test');
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${gw.url}/nowhere`)).status).toBe(404);
  });
  expect(changed).toEqual([]);
});
