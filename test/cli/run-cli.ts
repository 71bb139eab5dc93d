/**
 * Runs a compiled CLI (dist/src/cli/<name>.js; `npm test` builds first) as its npm script does: a child process with
 * only the environment given (plus PATH). Asynchronous, so an in-process emulator keeps answering meanwhile.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A CLI still running after this is killed, so a hung one fails its test instead of outliving the run. */
const CLI_TIMEOUT_MS = 60_000;

export function runCli(
  name: string,
  args: string[],
  opts: { env: Record<string, string>; cwd?: string },
): Promise<CliRun> {
  const child = spawn(process.execPath, [resolve(__dirname, `../../dist/src/cli/${name}.js`), ...args], {
    env: { PATH: process.env.PATH ?? '', ...opts.env },
    cwd: opts.cwd,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  return new Promise<CliRun>((r, j) => {
    child.once('error', j);
    child.once('close', (code) => r({ code, stdout, stderr }));
  }).finally(() => clearTimeout(timer));
}
