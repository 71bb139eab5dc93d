/**
 * Calendar: events.list calls per view (from the emulator's log; views are
 * the singleEvents listings), and view throughput, cold vs cached, as a ratio
 * to a trivial authenticated query in the same process.
 */
import { adminCall, benchWorld, throughput, type BenchResult } from './support';

const VIEW =
  '{ events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z", first: 100) { totalCount edges { node { id title start end attendees { email responseStatus } } } } }';

export async function benchCalendar(): Promise<BenchResult> {
  const w = await benchWorld({ CALENDAR_CACHE_SECONDS: '60' });
  const figures: BenchResult['figures'] = {};
  const views = async () =>
    (
      (await adminCall(w.emu.url, 'GET', '/requests?api=calendar&method=calendar.events.list')) as { query?: string }[]
    ).filter((c) => /singleEvents=true/.test(c.query ?? '')).length;
  try {
    await adminCall(w.emu.url, 'PUT', '/settings', { quotas: { 'calendar.requests': { limitPerMinute: 1_000_000 } } });
    const events = Array.from({ length: 1000 }, (_, i) => {
      const start = new Date(Date.UTC(2026, 11, 1 + (i % 30), 8 + (i % 10)));
      return {
        summary: `E${i}`,
        start: { dateTime: start.toISOString() },
        end: { dateTime: new Date(start.getTime() + 1800_000).toISOString() },
        attendees: [{ email: `a${i % 50}@x.test` }],
      };
    });
    await adminCall(w.emu.url, 'POST', '/users/agent%40demo.test/events', events);
    await adminCall(w.emu.url, 'DELETE', '/requests');
    let t = performance.now();
    await w.gql(VIEW);
    figures['month view of 1,000 events: events.list calls'] = await views();
    figures['month view, cold: ms'] = Math.round(performance.now() - t);
    t = performance.now();
    await w.gql(VIEW);
    figures['same view again (cached): events.list calls'] = (await views()) - 1;
    figures['same view again: ms'] = Math.round(performance.now() - t);
    await w.gql(
      'mutation { createEvent(input: { title: "Showing", start: "2026-12-24T17:00:00Z", end: "2026-12-24T18:00:00Z" }) { id } }',
    );
    await adminCall(w.emu.url, 'DELETE', '/requests');
    await w.gql(VIEW);
    figures['after our own createEvent: events.list calls'] = await views();
    const [demo] = await w.ds.query("SELECT id, brokerageId FROM agent WHERE email = 'agent@demo.test'");
    await w.services.calendar.cache.invalidate({ brokerageId: demo.brokerageId, agentId: demo.id });
    await adminCall(w.emu.url, 'DELETE', '/requests');
    await Promise.all(Array.from({ length: 100 }, () => w.gql(VIEW)));
    figures['100 concurrent identical views: events.list calls'] = await views();
    const cached = await throughput(300, 8, () => w.gql(VIEW));
    const baseline = await throughput(300, 8, () => w.gql('{ me { id } }'));
    figures['cached view of 100 events: req/s'] = Math.round(cached);
    figures['cached view: ratio to the baseline { me { id } }'] = (cached / baseline).toFixed(2);
  } finally {
    await w.close();
  }
  return { name: 'calendar (SQLite, in-process emulator)', figures };
}
