import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildGatewaySchema } from '../../src/schema';
import { printGatewaySchema, SCHEMA_FILE } from '../../src/schema-file';

test(`${SCHEMA_FILE} is current (run \`npm run schema:emit\` after changing the API)`, async () => {
  const emitted = printGatewaySchema(await buildGatewaySchema());
  const committed = readFileSync(resolve(__dirname, '../..', SCHEMA_FILE), 'utf8');
  expect(committed).toBe(emitted);
});

/** docs/architecture.md §4: the contract's operations. */
const CONTRACT = {
  Query: ['me', 'contacts', 'contact', 'events', 'event', 'sentMail', 'mail', 'syncStatus', 'serviceAccount'],
  Mutation: [
    'createContact',
    'updateContact',
    'deleteContact',
    'syncContacts',
    'createEvent',
    'updateEvent',
    'deleteEvent',
    'sendMail',
    'submitServiceAccountKey',
    'verifyServiceAccount',
  ],
};

test('the schema exposes every operation of the contract', async () => {
  const schema = await buildGatewaySchema();
  const have = {
    Query: Object.keys(schema.getQueryType()!.getFields()),
    Mutation: Object.keys(schema.getMutationType()!.getFields()),
  };
  for (const type of ['Query', 'Mutation'] as const) {
    for (const op of CONTRACT[type]) expect([type, op, have[type].includes(op)]).toEqual([type, op, true]);
  }
  expect(schema.getType('DateTime')).toBeDefined();
});
