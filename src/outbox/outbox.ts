/**
 * The transactional outbox: every write that must reach Google is recorded in
 * the same database transaction as the local change (`enqueue`), then
 * delivered by the worker per lane (topic + agent), strictly in order, with
 * jittered exponential backoff that honours Retry-After. A crash never loses
 * an accepted write (the row is committed with the change); the handlers make
 * retries safe (contacts carry our id in clientData, events a client-chosen
 * id, mail an idempotency key).
 *
 * Several gateway processes may share one database. A lane is delivered by
 * one process at a time: the process holds a short lease on the lane's
 * `outbox_lease` row, taken with one atomic conditional UPDATE (the row lock
 * of that statement serializes contenders on MySQL/MariaDB and SQLite alike,
 * where `SELECT … FOR UPDATE SKIP LOCKED` would not exist), renewed while it
 * works, and released when done. A crashed holder's lease expires and another
 * process takes the lane over.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { DataSource, EntityManager } from 'typeorm';
import { In } from 'typeorm';
import { OutboxLease, OutboxRow } from '../entities';
import type { Metrics } from '../metrics/metrics';
import type { OutboxStatus } from '../entities/outbox.entity';
import type { Config } from '../config';
import type { Logger } from '../logger';

export interface LaneRef {
  topic: string;
  brokerageId: string;
  agentId: string;
}

export type Outcome =
  | { seq: number; result: 'done' }
  | { seq: number; result: 'retry'; error: string; retryAfterMs?: number; ambiguous?: boolean }
  | { seq: number; result: 'failed'; error: string };

export interface OutboxHandler {
  topic: string;
  /**
   * Delivers a prefix of `rows` (the lane's pending rows in order; the head is
   * due). Returns an outcome per row it handled; rows without an outcome stay
   * pending for the next round. A `retry` stops the lane until its time.
   */
  deliver(lane: LaneRef, rows: OutboxRow[]): Promise<Outcome[]>;
}

/** pollMs: how often due lanes are looked for (other processes' rows, retries); lingerMs: wait after a new row so rows
 *  written together go in one batch; concurrency: lanes delivered at once by this process. */
export type OutboxSettings = Config['outbox'];

export const DEFAULT_OUTBOX_SETTINGS: OutboxSettings = {
  pollMs: 1000,
  lingerMs: 25,
  leaseMs: 30_000,
  retryBaseMs: 1000,
  retryMaxMs: 10 * 60_000,
  concurrency: 4,
};

/** Most rows read per delivery round (handlers batch within them). */
const ROUND_ROWS = 1000;
/** Lanes one poll schedules, taken fairly from the oldest due POLL_CANDIDATES heads. */
const POLL_LANES = 100;
const POLL_CANDIDATES = 1000;

/** A lane's name, `<topic>:<agentId>`: the key of this process's lane state and of its lease row. */
function laneKey(ref: Pick<LaneRef, 'topic' | 'agentId'>): string {
  return `${ref.topic}:${ref.agentId}`;
}

/** The lease row of a lane, with its tenant key. */
function leaseKey(ref: LaneRef): { lane: string; brokerageId: string } {
  return { lane: laneKey(ref), brokerageId: ref.brokerageId };
}

export async function enqueue(m: EntityManager, rows: { lane: LaneRef; kind: string; entityId: string }[], now = new Date()): Promise<number[]> {
  const seqs: number[] = [];
  for (const r of rows) {
    const res = await m.getRepository(OutboxRow).insert({
      brokerageId: r.lane.brokerageId,
      agentId: r.lane.agentId,
      topic: r.lane.topic,
      kind: r.kind,
      entityId: r.entityId,
      status: 'PENDING',
      attempts: 0,
      ambiguous: false,
      nextAttemptAt: now,
      lastError: null,
      createdAt: now,
    });
    seqs.push(Number(res.identifiers[0].seq));
  }
  return seqs;
}

/** Full-jitter exponential backoff: a random wait in [d/2, d], d doubling per attempt up to the cap. */
export function backoffMs(attempts: number, s: Pick<OutboxSettings, 'retryBaseMs' | 'retryMaxMs'>, retryAfterMs = 0, random = Math.random): number {
  const d = Math.min(s.retryMaxMs, s.retryBaseMs * 2 ** Math.max(0, attempts - 1));
  return Math.max(retryAfterMs, Math.round(d / 2 + (random() * d) / 2));
}

/** A lane whose head row is due; `dueAt` orders lanes by when their head became due (the poll passes its rank). */
export interface DueLane extends LaneRef {
  dueAt: number;
}

/**
 * At most `max` of `due` (ordered oldest due first), taken one per brokerage in turn: each brokerage's oldest lane,
 * then each one's second, and so on, brokerages in the order their oldest became due. A brokerage with thousands of
 * due lanes gets its share of a poll, not all of it.
 */
export function pickLanes<T extends DueLane>(due: T[], max: number): T[] {
  const byBrokerage = new Map<string, T[]>();
  for (const l of due) {
    const list = byBrokerage.get(l.brokerageId);
    if (list) list.push(l);
    else byBrokerage.set(l.brokerageId, [l]);
  }
  const queues = [...byBrokerage.values()];
  const picked: T[] = [];
  for (let round = 0; picked.length < max; round++) {
    let any = false;
    for (const q of queues) {
      if (round < q.length && picked.length < max) {
        picked.push(q[round]);
        any = true;
      }
    }
    if (!any) break;
  }
  return picked;
}

interface LaneState {
  ref: LaneRef;
  running: boolean;
  dirty: boolean;
  timer?: NodeJS.Timeout;
  /** When the timer fires (ms epoch). */
  timerAt?: number;
  /** Until when another process holds the lane's lease, as far as this one last found (ms epoch). */
  heldElsewhereUntil?: number;
}

export class OutboxWorker {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly handlers = new Map<string, OutboxHandler>();
  private readonly lanes = new Map<string, LaneState>();
  private readonly settled = new EventEmitter();
  private pollTimer?: NodeJS.Timeout;
  private active = 0;
  private readonly waiting: LaneState[] = [];
  private stopped = true;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly ds: DataSource,
    private readonly log: Logger,
    readonly settings: OutboxSettings = DEFAULT_OUTBOX_SETTINGS,
    private readonly metrics?: Metrics,
  ) {
    this.settled.setMaxListeners(0);
  }

  register(handler: OutboxHandler): void {
    this.handlers.set(handler.topic, handler);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = () => {
      this.poll().catch((err) => this.log.error({ err }, 'outbox poll failed'));
      this.pollTimer = setTimeout(tick, this.settings.pollMs);
      this.pollTimer.unref();
    };
    tick();
  }

  /** Stops polling, lets lanes in flight finish their round, and releases their leases. */
  /**
   * Takes no more lanes and lets the deliveries under way finish (a lane stops after its current round and releases
   * its lease, as every run does); any lease of this process still left is deleted too. Another process's poll then
   * takes those lanes at once (it skips lanes whose lease is live, and takes them as soon as it is not), instead of
   * after OUTBOX_LEASE_MS. A process killed without stopping leaves its leases to expire.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    for (const l of this.lanes.values()) if (l.timer) clearTimeout(l.timer);
    this.waiting.length = 0;
    await Promise.allSettled([...this.running]);
    await this.ds.getRepository(OutboxLease).delete({ owner: this.owner }).catch((err) => this.log.warn({ err }, 'outbox: could not release this process\'s lane leases; they expire by themselves'));
  }

  /** A row was just committed for this lane: deliver soon (after the linger). */
  kick(lane: LaneRef): void {
    this.schedule(lane, this.settings.lingerMs);
  }

  /**
   * Waits until the rows are delivered (or failed for good), at most `timeoutMs`.
   * True when none is pending any more. Rows delivered by another process are
   * noticed by polling the table.
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
          const left = await this.ds.getRepository(OutboxRow).count({ where: { seq: In([...pending]), status: 'PENDING', brokerageId } }).catch(() => pending.size);
          if (left === 0) finish(true);
        }, 250);
      }, 500);
      const timer = setTimeout(() => finish(pending.size === 0), Math.max(0, deadline - Date.now()));
    });
  }

  private schedule(ref: LaneRef, delayMs: number): void {
    if (this.stopped) return;
    const key = laneKey(ref);
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { ref, running: false, dirty: false };
      this.lanes.set(key, lane);
    }
    if (lane.running) {
      lane.dirty = true;
      return;
    }
    const at = Date.now() + Math.max(0, delayMs);
    if (lane.timer) {
      if (lane.timerAt! <= at) return; // already due as soon
      // Held by another process: its head looks due to every poll while that process delivers it; asking for the
      // lease again each poll would only cost queries and a delivery slot.
      if ((lane.heldElsewhereUntil ?? 0) > Date.now()) return;
      // Due sooner than its timer says (a poll found its head due: a new key made it due, another process retried
      // it): the backoff timer, up to OUTBOX_RETRY_MAX_MS away, must not hold it back.
      clearTimeout(lane.timer);
    }
    lane.timerAt = at;
    lane.timer = setTimeout(() => {
      lane!.timer = undefined;
      lane!.timerAt = undefined;
      this.enqueueRun(lane!);
    }, Math.max(0, delayMs));
    lane.timer.unref();
  }

  private enqueueRun(lane: LaneState): void {
    if (this.stopped || lane.running) return;
    if (this.active >= this.settings.concurrency) {
      if (!this.waiting.includes(lane)) this.waiting.push(lane);
      return;
    }
    this.active++;
    lane.running = true;
    const p = this.runLane(lane)
      .catch((err) => {
        this.log.error({ err, lane: lane.ref }, 'outbox lane failed');
        return this.settings.pollMs;
      })
      .then((nextDelay) => {
        this.active--;
        lane.running = false;
        this.running.delete(p);
        // New rows arrived meanwhile: look again now; otherwise come back when the head is due.
        if (lane.dirty) {
          lane.dirty = false;
          this.schedule(lane.ref, 0);
        } else if (nextDelay !== undefined) {
          this.schedule(lane.ref, nextDelay);
        }
        const next = this.waiting.shift();
        if (next) this.enqueueRun(next);
      });
    this.running.add(p);
  }

  /**
   * Lanes whose head is due, whoever wrote them (this or another process, or retries coming due), oldest due first
   * and each brokerage in turn (pickLanes). Only the head counts: rows queued behind a head that backs off (up to
   * RETRY_MAX, or for good while a brokerage has no key) are "due" by their own time but cannot go before it; when
   * they counted, 100 such lanes filled every poll and no other lane was found again, not even after a restart.
   */
  private async poll(): Promise<void> {
    const due: { topic: string; agentId: string; brokerageId: string }[] = await this.ds
      .getRepository(OutboxRow)
      .createQueryBuilder('o')
      .select(['o.topic AS topic', 'o.agentId AS agentId', 'o.brokerageId AS brokerageId'])
      .where('o.status = :s', { s: 'PENDING' })
      .andWhere('o.nextAttemptAt <= :now', { now: new Date() })
      .andWhere((qb) => `o.seq = ${qb.subQuery().select('MIN(h.seq)').from(OutboxRow, 'h').where('h.brokerageId = o.brokerageId AND h.topic = o.topic AND h.agentId = o.agentId AND h.status = :s').getQuery()}`)
      .orderBy('o.nextAttemptAt', 'ASC')
      .addOrderBy('o.seq', 'ASC')
      .limit(POLL_CANDIDATES)
      .getRawMany();
    // A lane another process holds looks due while that process delivers it: left alone until its lease ends or is
    // released (a process stopping gracefully releases its leases; then this poll takes the lane at once).
    const now = new Date();
    const leases = due.length ? await this.ds.getRepository(OutboxLease).find({ where: { lane: In(due.map(laneKey)), brokerageId: In([...new Set(due.map((d) => d.brokerageId))]) } }) : [];
    const heldElsewhere = new Set(leases.filter((l) => l.owner !== this.owner && l.until > now).map((l) => l.lane));
    const free = due.filter((d) => !heldElsewhere.has(laneKey(d)));
    const lanes = pickLanes(free.map((d, i) => ({ topic: d.topic, agentId: d.agentId, brokerageId: d.brokerageId, dueAt: i })), POLL_LANES);
    for (const d of lanes) {
      if (!this.handlers.has(d.topic)) continue;
      const state = this.lanes.get(laneKey(d));
      if (state) state.heldElsewhereUntil = undefined; // its lease is free now
      this.schedule({ topic: d.topic, agentId: d.agentId, brokerageId: d.brokerageId }, 0);
    }
  }

  private async acquire(ref: LaneRef): Promise<boolean> {
    const { lane, brokerageId } = leaseKey(ref);
    const now = new Date();
    const until = new Date(now.getTime() + this.settings.leaseMs);
    const repo = this.ds.getRepository(OutboxLease);
    const taken = await repo
      .createQueryBuilder()
      .update()
      .set({ owner: this.owner, until })
      .where('lane = :lane AND brokerageId = :brokerageId', { lane, brokerageId })
      .andWhere('(until < :now OR owner = :owner)', { now, owner: this.owner })
      .execute();
    if (taken.affected) return true;
    try {
      await repo.insert({ lane, brokerageId, owner: this.owner, until });
      return true;
    } catch {
      return false; // the row exists and its lease is someone else's
    }
  }

  private async renew(ref: LaneRef): Promise<boolean> {
    const res = await this.ds.getRepository(OutboxLease).update({ ...leaseKey(ref), owner: this.owner }, { until: new Date(Date.now() + this.settings.leaseMs) });
    return Boolean(res.affected);
  }

  private async release(ref: LaneRef): Promise<void> {
    await this.ds.getRepository(OutboxLease).update({ ...leaseKey(ref), owner: this.owner }, { until: new Date(0) });
  }

  /** Another process holds the lane: look again when its lease may have ended, and not sooner (see schedule). */
  private heldElsewhere(lane: LaneState): number {
    lane.heldElsewhereUntil = Date.now() + this.settings.leaseMs;
    return this.settings.leaseMs;
  }

  /** Delivers a lane while it has due rows; resolves to when it should run again (undefined: when kicked). */
  private async runLane(lane: LaneState): Promise<number | undefined> {
    const handler = this.handlers.get(lane.ref.topic);
    if (!handler) return undefined;
    const { brokerageId } = lane.ref;
    // Another process delivers this lane; look again when its lease may have ended.
    if (!(await this.acquire(lane.ref))) return this.heldElsewhere(lane);
    lane.heldElsewhereUntil = undefined;
    try {
      while (!this.stopped) {
        if (!(await this.renew(lane.ref))) return this.heldElsewhere(lane);
        const rows = await this.ds.getRepository(OutboxRow).find({
          where: { brokerageId, topic: lane.ref.topic, agentId: lane.ref.agentId, status: 'PENDING' },
          order: { seq: 'ASC' },
          take: ROUND_ROWS,
        });
        if (rows.length === 0) return undefined;
        const wait = rows[0].nextAttemptAt.getTime() - Date.now();
        if (wait > 0) return wait;
        // Keep the lease while Google works (a call may take up to its timeout); a lost lease means another
        // process may have taken the lane, so this round's outcomes are not recorded.
        let leaseLost = false;
        const keeper = setInterval(() => void this.renew(lane.ref).then((ok) => (leaseLost ||= !ok), () => undefined), Math.max(100, Math.floor(this.settings.leaseMs / 3)));
        let outcomes: Outcome[];
        try {
          outcomes = await handler.deliver(lane.ref, rows);
        } catch (err) {
          this.log.error({ err, lane: lane.ref }, 'outbox handler failed unexpectedly');
          outcomes = [{ seq: rows[0].seq, result: 'retry', error: 'internal error while delivering' }];
        } finally {
          clearInterval(keeper);
        }
        if (leaseLost) {
          this.log.warn({ lane: lane.ref }, 'outbox lease lost during delivery; leaving the lane to its new holder');
          return this.settings.leaseMs;
        }
        const retryAt = await this.apply(brokerageId, rows, outcomes);
        if (retryAt !== undefined) return retryAt - Date.now();
        if (outcomes.length === 0) return this.settings.pollMs; // the handler could not make progress
      }
      return undefined;
    } finally {
      await this.release(lane.ref).catch(() => undefined);
    }
  }

  /** Records outcomes; returns when the lane may try again if a row must be retried. */
  private async apply(brokerageId: string, rows: OutboxRow[], outcomes: Outcome[]): Promise<number | undefined> {
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
          await repo.update({ seq: o.seq, brokerageId }, { status: 'FAILED', attempts: row.attempts + 1, lastError: o.error.slice(0, 2000) });
        } else if (o.result === 'retry') {
          const at = now + backoffMs(row.attempts + 1, this.settings, o.retryAfterMs);
          retryAt = retryAt === undefined ? at : Math.min(retryAt, at);
          // `ambiguous` is the handler's word on this attempt: a definite answer from Google clears a flag set before sending.
          await repo.update({ seq: o.seq, brokerageId }, { attempts: row.attempts + 1, ambiguous: Boolean(o.ambiguous), nextAttemptAt: new Date(at), lastError: o.error.slice(0, 2000) });
        }
      }
    });
    for (const o of outcomes) {
      const topic = bySeq.get(o.seq)?.topic;
      if (!topic) continue;
      this.metrics?.outboxDeliveries.inc({ kind: topic, result: o.result });
      if (o.result === 'failed') this.metrics?.outboxFailed.inc({ kind: topic });
    }
    for (const o of outcomes) if (o.result !== 'retry') this.settled.emit('settled', o.seq);
    return retryAt;
  }
}

/** Rows of a lane still to deliver, and those Google refused for good (status queries). */
export async function laneCounts(m: EntityManager, lane: LaneRef): Promise<{ PENDING: number; FAILED: number }> {
  const rows: { status: OutboxStatus; n: string | number }[] = await m
    .getRepository(OutboxRow)
    .createQueryBuilder('o')
    .select('o.status', 'status')
    .addSelect('COUNT(*)', 'n')
    .where('o.brokerageId = :brokerageId AND o.topic = :topic AND o.agentId = :agentId', lane)
    .groupBy('o.status')
    .getRawMany();
  const out = { PENDING: 0, FAILED: 0 };
  for (const r of rows) out[r.status] = Number(r.n); // COUNT(*) is a string on MySQL, a number on SQLite
  return out;
}
