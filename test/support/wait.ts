/**
 * Waiting for a condition, never for a timer to win a race: `until` polls a read until it holds and fails naming what
 * it waited for and the last value seen. The deadline only turns a hang into a readable failure; no test passes or
 * fails because the machine was fast or slow.
 */

/**
 * Generous on purpose: on a loaded 2-core machine a condition can take seconds; a correct product always gets there.
 */
const UNTIL_TIMEOUT_MS = 20_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `read` until `ok` holds; returns the value that satisfied it. */
export async function until<T>(
  what: string,
  read: () => Promise<T> | T,
  ok: (v: T) => boolean = Boolean,
  timeoutMs = UNTIL_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await sleep(20);
  }
}
