/**
 * Settling delivered rows: a handler's outcomes are recorded (done rows deleted, a retry rescheduled by backoff, a
 * failure kept as FAILED with Google's reason: giving up), and whoever waits for those rows (a mutation waiting up to
 * MUTATION_WAIT_MS for Google's answer) is told.
 */
import { EventEmitter } from 'node:events';
import type { DataSource } from 'typeorm';
import { In } from 'typeorm';
import { OutboxRow } from '../entities';
import type { Metrics } from '../metrics/metrics';
import { backoffMs, type RetrySettings } from './retry';

/**
 * What became of a row this round. A `retry` stops the lane until its time; `failed` gives the row up for good;
 * `deferred` leaves the row as it is (attempts, ambiguous, lastError) and only puts it off `forMs`: it was not tried.
 */
export type Outcome =
  | { seq: number; result: 'done' }
  | {
      seq: number;
      result: 'retry';
      error: string;
      retryAfterMs?: number;
      ambiguous?: boolean;
      /**
       * The row met a setup problem (GOOGLE_NOT_CONFIGURED) with this key in use (keyVersion(); 'none': no key): due at
       * once if by the end of the round another key, or this one verified again, is in use (worker.ts).
       */
      setupKey?: string;
    }
  | { seq: number; result: 'failed'; error: string }
  | { seq: number; result: 'deferred'; forMs: number };

/** How often a waiter asks the table about rows another process delivers, and not before this process could have. */
const POLL_OTHERS_MS = 250;
const POLL_OTHERS_AFTER_MS = 500;
/** Google's reasons are kept to this many characters. */
const MAX_ERROR_LENGTH = 2000;

export class Settlements {
  private readonly settled = new EventEmitter();

  constructor(
    private readonly ds: DataSource,
    private readonly retry: RetrySettings,
    private readonly metrics?: Metrics,
  ) {
    this.settled.setMaxListeners(0);
  }

  /** Records the outcomes of a round; returns when the lane may try again if a row must be retried. */
  async record(brokerageId: string, rows: OutboxRow[], outcomes: Outcome[]): Promise<number | undefined> {
    const bySeq = new Map(rows.map((r) => [r.seq, r]));
    let retryAt: number | undefined;
    const now = Date.now();
    await this.ds.transaction(async (m) => {
      const repo = m.getRepository(OutboxRow);
      const done = outcomes.filter((o) => o.result === 'done').map((o) => o.seq);
      if (done.length) await repo.delete({ seq: In(done), brokerageId });
      for (const o of outcomes) {
        const row = bySeq.get(o.seq);
        if (!row) continue;
        if (o.result === 'failed') {
          await repo.update(
            { seq: o.seq, brokerageId },
            { status: 'FAILED', attempts: row.attempts + 1, lastError: o.error.slice(0, MAX_ERROR_LENGTH) },
          );
        } else if (o.result === 'deferred') {
          const at = now + o.forMs;
          retryAt = retryAt === undefined ? at : Math.min(retryAt, at);
          await repo.update({ seq: o.seq, brokerageId }, { nextAttemptAt: new Date(at) });
        } else if (o.result === 'retry') {
          const at = now + backoffMs(row.attempts + 1, this.retry, o.retryAfterMs);
          retryAt = retryAt === undefined ? at : Math.min(retryAt, at);
          // `ambiguous` is the handler's word on this attempt: a definite answer from Google clears a flag set before
          // sending.
          await repo.update(
            { seq: o.seq, brokerageId },
            {
              attempts: row.attempts + 1,
              ambiguous: Boolean(o.ambiguous),
              nextAttemptAt: new Date(at),
              lastError: o.error.slice(0, MAX_ERROR_LENGTH),
            },
          );
        }
      }
    });
    for (const o of outcomes) {
      const topic = bySeq.get(o.seq)?.topic;
      if (!topic || o.result === 'deferred') continue;
      this.metrics?.outboxDeliveries.inc({ kind: topic, result: o.result });
      if (o.result === 'failed') this.metrics?.outboxFailed.inc({ kind: topic });
    }
    for (const o of outcomes) if (o.result === 'done' || o.result === 'failed') this.settled.emit('settled', o.seq);
    return retryAt;
  }

  /**
   * Waits until the rows are delivered (or failed for good), at most `timeoutMs`. True when none is pending any more.
   * Rows delivered by another process are noticed by polling the table.
   */
  async waitFor(brokerageId: string, seqs: number[], timeoutMs: number): Promise<boolean> {
    if (seqs.length === 0) return true;
    const pending = new Set(seqs);
    const deadline = Date.now() + timeoutMs;
    return new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (v: boolean) => {
        if (done) return;
        done = true;
        this.settled.off('settled', onSettled);
        clearTimeout(startPolling);
        clearInterval(poller);
        clearTimeout(timer);
        resolve(v);
      };
      const onSettled = (seq: number) => {
        pending.delete(seq);
        if (pending.size === 0) finish(true);
      };
      this.settled.on('settled', onSettled);
      // Rows this process delivers settle through the event above; the table is asked only for the rest
      // (another process holds the lane), and not before a first delivery could have happened here.
      let poller: NodeJS.Timeout | undefined;
      const startPolling = setTimeout(() => {
        poller = setInterval(async () => {
          const left = await this.ds
            .getRepository(OutboxRow)
            .count({ where: { seq: In([...pending]), status: 'PENDING', brokerageId } })
            .catch(() => pending.size);
          if (left === 0) finish(true);
        }, POLL_OTHERS_MS);
      }, POLL_OTHERS_AFTER_MS);
      const timer = setTimeout(() => finish(pending.size === 0), Math.max(0, deadline - Date.now()));
    });
  }
}
