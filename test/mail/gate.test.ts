/** The gate that lets only a few large mails be decoded, built and stored at once per process. */
import { Gate } from '../../src/mail/mail.service';

test('at most `slots` run at once, the others in arrival order; a failure frees its slot', async () => {
  const gate = new Gate(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const job = (i: number, fail = false) =>
    gate.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      if (fail) throw new Error(`job ${i} failed`);
      return i;
    });
  const results = await Promise.allSettled([job(0), job(1, true), job(2), job(3), job(4, true), job(5)]);
  expect(peak).toBe(2);
  expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
  // Every slot came back, failures included: two more run side by side.
  peak = 0;
  await Promise.all([job(6), job(7)]);
  expect(peak).toBe(2);
});
