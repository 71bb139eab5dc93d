/**
 * `npm run bench -- scale`: the gateway with many agents, on MariaDB, run as in production (bench/http/processes.ts).
 *
 * Agents: one brokerage of BENCH_AGENTS (1,000) agents, each reading `contacts(first: 5)` twice (20 requests at a
 * time); the gateway's RSS idle, at its peak during each round (sampled every 100 ms) and after, and the Google calls
 * the rounds cost (the emulator's request log). Target: under 200 MB with 1,000 agents active.
 */
import { EmulatorAdmin } from 'google-workspace-emulator/testing';
import {
  freshDatabase,
  gatewayEnv,
  gql,
  onboard,
  startEmulatorProcess,
  startGateway,
  stopMariaDb,
} from './http/processes';
import type { BenchResult } from './support';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 1000);
const CONCURRENCY = 20;

async function eachAgent(emails: string[], work: (email: string) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < emails.length) await work(emails[next++]);
    }),
  );
}

export async function benchScale(): Promise<BenchResult> {
  const figures: Record<string, string> = {};
  const db = await freshDatabase('mariadb');
  if (!db) return { name: 'scale', figures: { skipped: 'mariadbd not found (apt-get install -y mariadb-server)' } };
  const emu = await startEmulatorProcess();
  const env = gatewayEnv(emu.url, db);
  const gw = await startGateway(env);
  try {
    const users = Array.from({ length: AGENTS }, (_, i) => `agent${i}@scale.test`);
    const admin = new EmulatorAdmin(emu.url);
    const { tokens } = await onboard(gw.url, emu.url, env, 'scale.test', users);
    // Every agent has a few contacts in Google, so a first read imports something.
    await eachAgent(users, (u) =>
      admin.request(
        'POST',
        `/users/${u}/contacts`,
        Array.from({ length: 5 }, (_, i) => ({
          names: [{ givenName: `C${i}`, familyName: u }],
          emailAddresses: [{ value: `c${i}.${u}` }],
        })),
      ),
    );
    await admin.clearRequests();
    figures['gateway RSS idle (after onboarding)'] = `${gw.rssMiB()} MiB`;
    for (const round of [1, 2]) {
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, gw.rssMiB())), 100);
      try {
        await eachAgent(users, async (u) => {
          const data = await gql(gw.url, tokens[u], '{ contacts(first: 5) { edges { node { id displayName } } } }');
          if (data.contacts.edges.length !== 5) throw new Error(`${u} read ${data.contacts.edges.length} contacts`);
        });
      } catch (err) {
        throw new Error(`round ${round} failed; the gateway's last output:\n${gw.output().slice(-3000)}`, {
          cause: err,
        });
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, gw.rssMiB());
      figures[`round ${round}: ${AGENTS} agents read contacts(first: 5)`] =
        `peak RSS ${peak} MiB, after ${gw.rssMiB()} MiB`;
    }
    const log = await admin.requests();
    const byMethod = new Map<string, number>();
    for (const r of log) byMethod.set(r.method, (byMethod.get(r.method) ?? 0) + 1);
    figures['Google calls for both rounds'] = [...byMethod].map(([m, n]) => `${n} ${m}`).join(', ');
    figures.target = `RSS under 200 MB with ${AGENTS} agents active`;
  } finally {
    await gw.stop();
    await emu.stop();
    await db.close();
    await stopMariaDb();
  }
  return { name: `scale: ${AGENTS} agents on MariaDB, production mode`, figures };
}
