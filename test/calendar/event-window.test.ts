/**
 * What a loaded window holds (src/calendar/event-window.ts loadWindow): what a view reads of each of Google's events
 * (viewedEvent), weighed by its text, over every page, or nothing past the cap. The cached windows' memory rests on
 * this: Google's whole Event resource is about twice the heap.
 */
import { loadWindow } from '../../src/calendar/event-window';
import { viewedEvent } from '../../src/calendar/event.mapper';
import type { CalendarDriver, EventPage, GoogleEvent } from '../../src/google/calendar';

/** Google's whole Event resource, as events.list answers it. */
const googleEvent = (i: number): GoogleEvent => ({
  kind: 'calendar#event',
  etag: `"33818237760${String(i).padStart(5, '0')}"`,
  id: `ev${i}`,
  status: 'confirmed',
  htmlLink: `https://www.google.com/calendar/event?eid=ZXYx${i}`,
  created: '2026-12-01T10:00:00.000Z',
  updated: '2026-12-01T10:00:00.000Z',
  summary: `Showing ${i % 3}`,
  location: '12 Main Street',
  creator: { email: 'ann@acme.test', self: true },
  organizer: { email: 'ann@acme.test', self: true },
  start: { dateTime: `2026-12-${String(1 + i).padStart(2, '0')}T15:00:00Z`, timeZone: 'UTC' },
  end: { dateTime: `2026-12-${String(1 + i).padStart(2, '0')}T16:00:00Z`, timeZone: 'UTC' },
  iCalUID: `ev${i}@google.com`,
  sequence: 0,
  attendees: [
    { email: 'ann@acme.test', responseStatus: 'accepted', self: true, organizer: true },
    { email: `buyer${i}@buyer.test`, displayName: 'Buyer', responseStatus: 'needsAction' },
  ],
  reminders: { useDefault: true },
  eventType: 'default',
});

/** A driver whose events.list answers these pages, counting the calls. */
function driver(pages: GoogleEvent[][]): { cal: CalendarDriver; calls: () => number } {
  let calls = 0;
  const cal = {
    async *eventPages(): AsyncGenerator<EventPage> {
      for (const [i, items] of pages.entries()) {
        calls++;
        yield { items, nextPageToken: i < pages.length - 1 ? `p${i + 1}` : null, nextSyncToken: null, timeZone: 'UTC' };
      }
    },
  } as unknown as CalendarDriver;
  return { cal, calls: () => calls };
}

const WINDOW = ['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'] as const;

test('a window keeps what a view reads of each event, over every page, and weighs their text', async () => {
  const pages = [[0, 1, 2].map(googleEvent), [3, 4].map(googleEvent)];
  const { cal, calls } = driver(pages);
  const w = await loadWindow(cal, ...WINDOW, 10);
  expect(calls()).toBe(2);
  expect(w.overCap).toBe(false);
  const seen = new Map<string, string>();
  const viewed = pages.flat().map((e) => viewedEvent(e, seen));
  expect(w.events).toEqual(viewed.map((v) => v.event));
  expect(w.text).toBe(viewed.reduce((n, v) => n + v.text, 0));
  for (const e of w.events) {
    const kept = Object.keys(e).filter((k) => (e as Record<string, unknown>)[k] !== undefined);
    expect(kept.sort()).toEqual(['attendees', 'end', 'etag', 'id', 'location', 'start', 'status', 'summary']);
    expect(e.attendees!.map((a) => Object.keys(a).sort())).toEqual([
      ['email', 'responseStatus'],
      ['email', 'responseStatus'],
    ]);
  }
  expect([...w.spans]).toEqual(
    [0, 1, 2, 3, 4].flatMap((i) => [
      Date.parse(`2026-12-${String(1 + i).padStart(2, '0')}T15:00:00Z`),
      Date.parse(`2026-12-${String(1 + i).padStart(2, '0')}T16:00:00Z`),
    ]),
  );
});

test.each([
  [[3, 2], false, 2],
  [[5], false, 1],
  [[3, 3], true, 2],
  [[6], true, 1],
  [[3, 3, 1], true, 2],
])(
  'pages of %j events, a cap of 5: over the cap: %s (then it keeps nothing), after %d events.list calls',
  async (sizes, over, calls) => {
    let next = 0;
    const d = driver(sizes.map((n) => Array.from({ length: n }, () => googleEvent(next++))));
    const w = await loadWindow(d.cal, ...WINDOW, 5);
    expect(w.overCap).toBe(over);
    expect(w.events).toHaveLength(over ? 0 : 5);
    if (over) expect(w.text).toBe(0);
    expect(d.calls()).toBe(calls); // no page is asked for past the cap
  },
);
