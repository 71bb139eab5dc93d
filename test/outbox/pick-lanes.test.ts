/**
 * pickLanes, the outbox poll's fair choice of due lanes: at most `max`, one per brokerage in turn (each brokerage's
 * oldest, then each one's second, …), brokerages in the order their oldest became due. Pure; the poll that feeds it
 * is tested in test/outbox/fairness.test.ts.
 */
import { pickLanes } from '../../src/outbox/claim';

interface Lane {
  topic: string;
  brokerageId: string;
  agentId: string;
  dueAt: number;
  /** any extra data the caller carries along */
  tag?: string;
}

/** Lanes from a compact spec: "A1 B1 A2" is brokerage A's lane 1, B's lane 1, A's lane 2, in that due order. */
const lanes = (spec: string): Lane[] =>
  spec
    .split(' ')
    .filter(Boolean)
    .map((s, i) => ({ topic: 'contacts', brokerageId: s[0], agentId: s, dueAt: i }));
const names = (picked: Lane[]) => picked.map((l) => l.agentId).join(' ');

describe('pickLanes', () => {
  test('nothing due: nothing picked', () => {
    expect(pickLanes([], 100)).toEqual([]);
  });

  test('max 0 (or less): nothing picked', () => {
    expect(pickLanes(lanes('A1 B1'), 0)).toEqual([]);
    expect(pickLanes(lanes('A1 B1'), -3)).toEqual([]);
  });

  test('one brokerage: its lanes in due order, cut at max', () => {
    expect(names(pickLanes(lanes('A1 A2 A3 A4'), 10))).toBe('A1 A2 A3 A4');
    expect(names(pickLanes(lanes('A1 A2 A3 A4'), 2))).toBe('A1 A2');
  });

  test("round by round: every brokerage's oldest, then every one's second, …, each round in the same brokerage order; a brokerage out of lanes drops out of the rounds", () => {
    // C2 became due before B2, but B's turn in a round comes before C's (B's oldest is older than C's).
    expect(names(pickLanes(lanes('A1 A2 A3 A4 B1 C1 C2 B2'), 100))).toBe('A1 B1 C1 A2 B2 C2 A3 A4');
  });

  test('brokerages take their turn in the order their oldest lane became due, not by how many they have', () => {
    expect(names(pickLanes(lanes('C1 A1 A2 A3 B1 C2'), 100))).toBe('C1 A1 B1 C2 A2 A3');
  });

  test('max reached in the middle of a round: the brokerages earlier in the round get the places', () => {
    expect(names(pickLanes(lanes('A1 B1 C1 A2 B2 C2'), 4))).toBe('A1 B1 C1 A2');
    expect(names(pickLanes(lanes('A1 B1 C1 A2 B2 C2'), 2))).toBe('A1 B1');
  });

  test('one brokerage with 1,000 due lanes and 99 with one each: a poll of 100 takes one lane of every brokerage', () => {
    const big = Array.from({ length: 1000 }, (_, i) => ({
      topic: 't',
      brokerageId: 'big',
      agentId: `big-${i}`,
      dueAt: i,
    }));
    const small = Array.from({ length: 99 }, (_, i) => ({
      topic: 't',
      brokerageId: `small-${i}`,
      agentId: `small-${i}`,
      dueAt: 1000 + i,
    }));
    const picked = pickLanes([...big, ...small], 100);
    expect(picked).toHaveLength(100);
    expect(new Set(picked.map((l) => l.brokerageId)).size).toBe(100);
    expect(picked[0].agentId).toBe('big-0');
  });

  test('when everything fits, every lane is picked exactly once', () => {
    const due = lanes('A1 B1 A2 C1 B2 A3 D1 C2');
    const picked = pickLanes(due, due.length);
    expect(picked).toHaveLength(due.length);
    expect(new Set(picked)).toEqual(new Set(due));
  });

  test('the lanes given are returned as they are (same objects, extra fields kept), and the list given is not changed', () => {
    const due: Lane[] = lanes('A1 B1 A2').map((l) => ({ ...l, tag: `tag-${l.agentId}` }));
    const copy = structuredClone(due);
    const picked = pickLanes(due, 2);
    expect(picked[0]).toBe(due[0]);
    expect(picked[1]).toBe(due[1]);
    expect(picked.map((l) => l.tag)).toEqual(['tag-A1', 'tag-B1']);
    expect(due).toEqual(copy);
  });

  test("brokerages are told apart by brokerageId only: the same agent id under two brokerages is two brokerages' lanes", () => {
    const due = [
      { topic: 't', brokerageId: 'b1', agentId: 'same', dueAt: 0 },
      { topic: 't', brokerageId: 'b1', agentId: 'other', dueAt: 1 },
      { topic: 't', brokerageId: 'b2', agentId: 'same', dueAt: 2 },
    ];
    expect(pickLanes(due, 2).map((l) => `${l.brokerageId}/${l.agentId}`)).toEqual(['b1/same', 'b2/same']);
  });
});
