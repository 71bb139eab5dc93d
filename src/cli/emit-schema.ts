/** `npm run schema:emit`: writes schema/schema.graphql from the code-first schema. */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildGatewaySchema } from '../schema';
import { printGatewaySchema, SCHEMA_FILE } from '../schema-file';

buildGatewaySchema()
  .then((schema) => {
    writeFileSync(resolve(SCHEMA_FILE), printGatewaySchema(schema));
    process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
  })
  .catch((err) => {
    process.stderr.write(`schema:emit: ${(err as Error).message}\n`);
    process.exit(1);
  });
