/**
 * `npm run bench`: performance is measured here, not in timed tests. Each
 * bench reports upstream Google calls per unit of work (from the emulator's
 * request log) and times or throughput ratios measured in this process.
 */
import 'reflect-metadata';
import { benchCalendar } from './calendar.bench';
import { benchContacts } from './contacts.bench';
import { benchHttp } from './http.bench';
import { benchMail } from './mail.bench';
import { benchOnboarding } from './onboarding.bench';
import { benchScale } from './scale.bench';
import type { BenchResult } from './support';

const BENCHES: Record<string, () => Promise<BenchResult>> = {
  onboarding: benchOnboarding,
  contacts: benchContacts,
  calendar: benchCalendar,
  mail: benchMail,
  http: benchHttp,
  scale: benchScale,
};

async function main() {
  const only = process.argv.slice(2);
  for (const [name, run] of Object.entries(BENCHES)) {
    if (only.length && !only.includes(name)) continue;
    const r = await run();
    process.stdout.write(
      `\n${r.name}\n${Object.entries(r.figures)
        .map(([k, v]) => `  ${k}: ${v}`)
        .join('\n')}\n`,
    );
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
