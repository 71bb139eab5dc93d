/**
 * The outbox's retry schedule, backoffMs: exponential from retryBaseMs, doubling per attempt up to retryMaxMs, a
 * random wait in [d/2, d] around it, and never sooner than Google's Retry-After. `random` is injected, so every
 * number here is exact. (test/outbox/outbox.test.ts has five spot checks; this is the whole schedule.)
 */
import { backoffMs } from '../../src/outbox/retry';

const S = { retryBaseMs: 1000, retryMaxMs: 60_000 };
const fixed = (r: number) => () => r;

describe('backoffMs', () => {
  test('the ceiling doubles per attempt from the base: 1 s, 2 s, 4 s, … (random at its top)', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, S, 0, fixed(1)))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000,
    ]);
  });

  test('the floor is half the ceiling (random at 0)', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, S, 0, fixed(0)))).toEqual([500, 1000, 2000, 4000, 8000, 16_000]);
  });

  test('in between, the wait moves linearly with the random number: d/2 + r·d/2, rounded to a whole ms', () => {
    expect(backoffMs(1, S, 0, fixed(0.5))).toBe(750);
    expect(backoffMs(3, S, 0, fixed(0.25))).toBe(2500);
    expect(backoffMs(1, { retryBaseMs: 3, retryMaxMs: 100 }, 0, fixed(0.5))).toBe(2); // 1.5 + 0.75 = 2.25
    expect(backoffMs(1, { retryBaseMs: 3, retryMaxMs: 100 }, 0, fixed(0.999))).toBe(3);
  });

  test('every wait is a whole number in [d/2, d], over a spread of random numbers and attempts', () => {
    for (let n = 1; n <= 12; n++) {
      const d = Math.min(S.retryMaxMs, S.retryBaseMs * 2 ** (n - 1));
      for (let i = 0; i < 100; i++) {
        const w = backoffMs(n, S, 0, fixed(i / 100));
        expect(Number.isInteger(w)).toBe(true);
        expect(w).toBeGreaterThanOrEqual(d / 2);
        expect(w).toBeLessThanOrEqual(d);
      }
    }
  });

  test('the ceiling stops at retryMaxMs: attempt 7 (64 s) and any later one wait at most 60 s and at least 30 s', () => {
    for (const n of [7, 8, 20, 100, 1100, 5000]) {
      expect([n, backoffMs(n, S, 0, fixed(1)), backoffMs(n, S, 0, fixed(0))]).toEqual([n, 60_000, 30_000]);
    }
  });

  test('a cap that is not a power of two of the base is met exactly', () => {
    expect(backoffMs(3, { retryBaseMs: 1000, retryMaxMs: 3000 }, 0, fixed(1))).toBe(3000);
    expect(backoffMs(2, { retryBaseMs: 1000, retryMaxMs: 3000 }, 0, fixed(1))).toBe(2000);
  });

  test('attempt 0 (or less) counts as the first', () => {
    for (const n of [0, -1, -50]) expect(backoffMs(n, S, 0, fixed(1))).toBe(1000);
  });

  test('Retry-After is a floor: a longer one is waited exactly, a shorter one changes nothing', () => {
    expect(backoffMs(1, S, 5000, fixed(1))).toBe(5000);
    expect(backoffMs(5, S, 5000, fixed(1))).toBe(16_000);
    expect(backoffMs(5, S, 5000, fixed(0))).toBe(8000);
    expect(backoffMs(1, S, 0, fixed(0))).toBe(500);
  });

  test('Retry-After beyond retryMaxMs is honoured all the same (Google said when)', () => {
    expect(backoffMs(20, S, 10 * 60_000, fixed(1))).toBe(10 * 60_000);
  });

  test('the random source is asked once per wait, and Math.random when none is given (within the same bounds)', () => {
    const random = jest.fn(() => 0.5);
    backoffMs(2, S, 0, random);
    expect(random).toHaveBeenCalledTimes(1);
    const spy = jest.spyOn(Math, 'random').mockReturnValue(0);
    try {
      expect(backoffMs(2, S)).toBe(1000);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  test('the defaults the gateway ships (1 s base, 10 min cap): first retry within 0.5-1 s, the eleventh and later within 5-10 min', () => {
    const defaults = { retryBaseMs: 1000, retryMaxMs: 10 * 60_000 };
    expect([backoffMs(1, defaults, 0, fixed(0)), backoffMs(1, defaults, 0, fixed(1))]).toEqual([500, 1000]);
    expect([backoffMs(10, defaults, 0, fixed(0)), backoffMs(10, defaults, 0, fixed(1))]).toEqual([256_000, 512_000]);
    expect([backoffMs(11, defaults, 0, fixed(0)), backoffMs(11, defaults, 0, fixed(1))]).toEqual([300_000, 600_000]);
  });
});
