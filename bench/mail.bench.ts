/**
 * Mail: Gmail calls per mail (from the emulator's log), send latency (the
 * sendMail mutation answering SENT: MIME build, store, outbox, drafts.create
 * + drafts.send), and messages per second through the outbox when mail is
 * queued faster than it goes out (one agent: one ordered lane; ten agents:
 * lanes in parallel), as a ratio to a trivial query in the same process.
 */
import { randomBytes } from 'node:crypto';
import { signSandboxToken } from '../src/auth/sandbox-token';
import { adminCall, benchWorld, throughput, type BenchResult } from './support';

const SEND = 'mutation ($i: SendMailInput!) { sendMail(input: $i) { id status } }';
const mailInput = (i: number) => ({
  to: [`Buyer ${i} <buyer${i}@x.test>`],
  subject: `Listing update ${i} — 12 Elm St`,
  text: 'New photos are up.',
  html: '<p>New photos are <b>up</b>.</p>',
});

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
}

export async function benchMail(): Promise<BenchResult> {
  const w = await benchWorld({ MUTATION_WAIT_MS: '10000' });
  const figures: BenchResult['figures'] = {};
  const gmailCalls = async () => ((await adminCall(w.emu.url, 'GET', '/requests?api=gmail')) as unknown[]).length;
  try {
    await adminCall(w.emu.url, 'PUT', '/settings', {
      quotas: { 'gmail.units': { limitPerMinute: 1_000_000_000 } },
      requestLogMaxEntries: 100_000,
    });
    // Latency of a small mail, one at a time.
    const lat: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      const r = await w.gql(SEND, { i: mailInput(i) });
      if (r.sendMail.status !== 'SENT') throw new Error('not sent');
      lat.push(performance.now() - t);
    }
    figures['Gmail calls per mail'] = ((await gmailCalls()) / 50).toFixed(1);
    figures['sendMail → SENT, small mail: median ms'] = percentile(lat, 50);
    figures['sendMail → SENT, small mail: p95 ms'] = percentile(lat, 95);

    const big = randomBytes(20 * 1024 * 1024).toString('base64');
    const t = performance.now();
    const r = await w.gql(SEND, {
      i: {
        ...mailInput(0),
        attachments: [{ filename: 'scans.zip', contentType: 'application/zip', contentBase64: big }],
      },
    });
    if (r.sendMail.status !== 'SENT') throw new Error('big mail not sent');
    figures['sendMail → SENT, 20 MB attachment (upload endpoint): ms'] = Math.round(performance.now() - t);
  } finally {
    await w.close();
  }
  // Throughput of the outbox: a gateway whose mutations answer at once (QUEUED); queue, then time until all are SENT.
  const q = await benchWorld({ MUTATION_WAIT_MS: '0' });
  try {
    await adminCall(q.emu.url, 'PUT', '/settings', { quotas: { 'gmail.units': { limitPerMinute: 1_000_000_000 } } });
    let t = 0;
    const drain = async (label: string, tokens: string[], perAgent: number) => {
      t = performance.now();
      await Promise.all(
        tokens.map(async (token) => {
          for (let i = 0; i < perAgent; i++) {
            const res = await fetch(`${q.url}/graphql`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
              body: JSON.stringify({ query: SEND, variables: { i: mailInput(i) } }),
            });
            if (!res.ok) throw new Error(`send failed ${res.status}`);
          }
        }),
      );
      const queuedMs = performance.now() - t;
      for (;;) {
        const n = Number((await q.ds.query("SELECT COUNT(*) AS n FROM sent_mail WHERE status = 'QUEUED'"))[0].n);
        if (n === 0) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      const total = tokens.length * perAgent;
      figures[`${label}: ${total} mails queued in ms`] = Math.round(queuedMs);
      figures[`${label}: messages/s through the outbox (queue to all SENT)`] = Math.round(
        (total / (performance.now() - t)) * 1000,
      );
      return (total / (performance.now() - t)) * 1000;
    };
    await drain('one agent', [q.token], 300);
    const agents = Array.from({ length: 10 }, (_, i) => `agent${i}@demo.test`);
    await adminCall(q.emu.url, 'POST', '/domains', { domain: 'demo.test', users: agents });
    const tokens = await Promise.all(agents.map((a) => signSandboxToken(q.services.config.auth, a)));
    const perSec = await drain('ten agents', tokens, 30);
    const baseline = await throughput(300, 8, () => q.gql('{ me { id } }'));
    figures['ten agents: messages/s as a ratio to the baseline { me { id } } req/s'] = (perSec / baseline).toFixed(2);
  } finally {
    await q.close();
  }
  return { name: 'mail (SQLite, in-process emulator)', figures };
}
