/**
 * A private, throwaway MariaDB server for the test run: its own data directory
 * under the OS temp dir, a free loopback port, no systemd and no system config
 * (`--no-defaults`). Measured ready in 2-3 s on our 2-core machines.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mysql from 'mysql2/promise';

export const MARIADB_INSTALL_HINT = 'apt-get update && apt-get install -y mariadb-server';

export interface MariaDbInstance {
  /** `mysql://root@127.0.0.1:PORT/` — the root account over TCP, no password. */
  url: string;
  pid: number;
  dir: string;
  /** Kills the server (SIGKILL), keeping its data directory: as a crash or a managed database's failover. */
  kill(): Promise<void>;
  /** Starts the server again on the same data directory and port. */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open and nothing answers, as in a network partition. */
  freeze(): void;
  /** Lets a frozen server go on (SIGCONT). */
  thaw(): void;
  stop(): Promise<void>;
}

/** The path of `mariadbd`, or undefined when MariaDB is not installed. */
export function findMariadbd(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  for (const d of dirs) {
    if (d && existsSync(join(d, 'mariadbd'))) return join(d, 'mariadbd');
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

export async function startMariaDb(mariadbd: string): Promise<MariaDbInstance> {
  const dir = mkdtempSync(join(tmpdir(), 'engage-mariadb-'));
  const dataDir = join(dir, 'data');
  // Its own temporary directory: with the default (/tmp) a bootstrap sharing it with other MariaDB runs on the
  // machine was seen aborting on "Error on delete of '/tmp/#sql-temptable…'".
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  const installDb = join(mariadbd, '..', '..', 'bin', 'mariadb-install-db');
  execFileSync(
    existsSync(installDb) ? installDb : 'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--user=root',
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      `--tmpdir=${tmp}`,
    ],
    { stdio: 'pipe' },
  );
  const port = await freePort();
  let server: Server;
  try {
    server = await launch(mariadbd, dir, port);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `mysql://root@127.0.0.1:${port}/`,
    get pid() {
      return server.child.pid!;
    },
    dir,
    async kill() {
      await server.halt('SIGKILL');
    },
    async restart() {
      server = await launch(mariadbd, dir, port);
    },
    freeze() {
      server.child.kill('SIGSTOP');
    },
    thaw() {
      server.child.kill('SIGCONT');
    },
    async stop() {
      await server.halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Server {
  child: ChildProcess;
  halt(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

/** Starts mariadbd on the instance's data directory and port; resolves once it answers a query. */
async function launch(mariadbd: string, dir: string, port: number): Promise<Server> {
  const child: ChildProcess = spawn(
    mariadbd,
    [
      '--no-defaults',
      '--user=root',
      `--datadir=${join(dir, 'data')}`,
      `--socket=${join(dir, 'mysqld.sock')}`,
      `--tmpdir=${join(dir, 'tmp')}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      '--innodb-buffer-pool-size=64M',
      '--innodb-flush-log-at-trx-commit=2',
      '--max-connections=500',
      `--log-error=${join(dir, 'error.log')}`,
    ],
    { stdio: 'ignore', detached: false },
  );
  let exited = false;
  const gone = new Promise<void>((r) =>
    child.once('exit', () => {
      exited = true;
      r();
    }),
  );

  // Ready when a TCP connection as root answers a query.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8').slice(-2000) : '';
      throw new Error(`mariadbd exited during start-up. Its log:\n${log}`);
    }
    try {
      const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
      await conn.query('SELECT 1');
      await conn.end();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`mariadbd did not accept connections within 30 s: ${(err as Error).message}`, { cause: err });
      }
      await sleep(100);
    }
  }
  return {
    child,
    async halt(signal) {
      if (exited) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
