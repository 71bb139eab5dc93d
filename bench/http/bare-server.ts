/**
 * The baseline of `npm run bench -- http`: graphql-js on node:http with nothing else, answering from memory the very
 * data the gateway answered (schema/schema.graphql, default resolvers over a root value captured from the gateway).
 * BARE_CACHE=1 keeps parsed and validated documents (as Apollo does); otherwise every request is parsed and validated.
 *
 * Run as its own process by the bench: BARE_ROOT names a JSON file of the root value; it prints "listening <url>".
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { buildSchema, execute, parse, validate, type DocumentNode } from 'graphql';

const schema = buildSchema(readFileSync(join(__dirname, '../../../schema/schema.graphql'), 'utf8'));
const rootValue = JSON.parse(readFileSync(process.env.BARE_ROOT!, 'utf8')) as Record<string, unknown>;
const cache = process.env.BARE_CACHE === '1' ? new Map<string, DocumentNode>() : undefined;

function documentOf(query: string): DocumentNode | readonly Error[] {
  const hit = cache?.get(query);
  if (hit) return hit;
  const doc = parse(query);
  const errors = validate(schema, doc);
  if (errors.length) return errors;
  cache?.set(query, doc);
  return doc;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const { query, variables } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      query: string;
      variables?: Record<string, unknown>;
    };
    const doc = documentOf(query);
    const result = Array.isArray(doc)
      ? { errors: doc.map((e) => ({ message: e.message })) }
      : execute({ schema, document: doc as DocumentNode, rootValue, variableValues: variables });
    const body = JSON.stringify(result);
    res.writeHead(200, { 'content-type': 'application/graphql-response+json; charset=utf-8' });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as { port: number };
  process.stdout.write(`listening http://127.0.0.1:${addr.port}\n`);
});
// An orderly exit on the bench's SIGTERM, so `--cpu-prof` (BENCH_PROFILE) writes its profile.
process.on('SIGTERM', () => process.exit(0));
