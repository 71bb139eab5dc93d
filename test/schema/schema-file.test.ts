import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildGatewaySchema } from '../../src/schema';
import { printGatewaySchema, SCHEMA_FILE } from '../../src/schema-file';

test(`${SCHEMA_FILE} is current (run \`npm run schema:emit\` after changing the API)`, async () => {
  const emitted = printGatewaySchema(await buildGatewaySchema());
  const committed = readFileSync(resolve(__dirname, '../..', SCHEMA_FILE), 'utf8');
  expect(committed).toBe(emitted);
});

test('the schema exposes the contract\'s operations that exist so far', async () => {
  const schema = await buildGatewaySchema();
  expect(Object.keys(schema.getQueryType()!.getFields()).sort()).toEqual(['me', 'serviceAccount']);
  expect(schema.getType('DateTime')).toBeDefined();
});
