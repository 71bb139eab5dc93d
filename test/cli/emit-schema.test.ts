/**
 * `npm run schema:emit` (compiled dist/src/cli/emit-schema.js): writes schema/schema.graphql, relative to the directory
 * it runs in, from the code-first schema. Run in a temp directory, so the committed file is only read.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli } from './run-cli';

const COMMITTED = resolve(__dirname, '../../schema/schema.graphql');

test('writes schema/schema.graphql in the working directory, equal to the committed schema', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'engage-emit-'));
  mkdirSync(join(dir, 'schema'));
  const res = await runCli('emit-schema', [], { env: {}, cwd: dir });
  expect(res).toEqual({ code: 0, stdout: 'wrote schema/schema.graphql\n', stderr: '' });
  expect(readFileSync(join(dir, 'schema/schema.graphql'), 'utf8')).toBe(readFileSync(COMMITTED, 'utf8'));
});

test('a directory without schema/: exit 1 and the reason, nothing written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'engage-emit-'));
  const res = await runCli('emit-schema', [], { env: {}, cwd: dir });
  expect(res.code).toBe(1);
  expect(res.stdout).toBe('');
  expect(res.stderr).toMatch(/^schema:emit: ENOENT: no such file or directory, open '.*schema\/schema\.graphql'\n$/);
  expect(readdirSync(dir)).toEqual([]);
});
