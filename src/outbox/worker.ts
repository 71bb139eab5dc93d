/**
 * The outbox worker: delivers each lane (topic + agent) strictly in order, one process at a time (claim.ts), with
 * jittered exponential backoff that honours Retry-After (retry.ts), recording what became of each row and telling
 * those who wait (settle.ts). Writes are queued in the transaction of the local change (topics.ts), so a crash never
 * loses an accepted write; the handlers make retries safe (contacts carry our id in clientData, events a
 * client-chosen id, mail an idempotency key).
 *
 * The protocol, file by file: topics.ts (write), claim.ts (find due lanes, lease them), worker.ts (deliver),
 * settle.ts (record done / retry / give up, and wake waiters), retry.ts (when to try again), status.ts (counts).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { In, type DataSource } from 'typeorm';
import { OutboxRow } from '../entities';
import type { Metrics } from '../metrics/metrics';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { AgentKey } from '../agents/agent-ref';
import { credentialProblem } from '../google/feature-health';
import type { Feature } from '../google/scopes';
import { LaneLeases, laneKey } from './claim';
import { Settlements, type Outcome } from './settle';
import type { LaneRef, OutboxTopic } from './topics';

export type { Outcome } from './settle';

export interface OutboxHandler {
  /**
   * The topic this handler delivers, with the kinds it knows; a row of another kind waits for a release that knows it.
   */
  topic: OutboxTopic;
  /**
   * Delivers a prefix of `rows` (the lane's pending rows in order; the head is due). Returns an outcome per row it
   * handled; rows without an outcome stay pending for the next round. A `retry` stops the lane until its time.
   */
  deliver(lane: LaneRef, rows: OutboxRow[]): Promise<Outcome[]>;
}

/** pollMs: how often due lanes are looked for (other processes' rows, retries); lingerMs: wait after a new row so rows
 *  written together go in one batch; concurrency: lanes delivered at once by this process. */
export type OutboxSettings = Config['outbox'];

/** Most rows read per delivery round (handlers batch within them). */
const ROUND_ROWS = 1000;

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
  private readonly leases: LaneLeases;
  private readonly settlements: Settlements;
  private pollTimer?: NodeJS.Timeout;
  private active = 0;
  private readonly waiting: LaneState[] = [];
  private stopped = true;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly ds: DataSource,
    private readonly log: Logger,
    readonly settings: OutboxSettings,
    metrics?: Metrics,
    /** The brokerage's key in use now, as keyVersion() names it, or null (app.ts): see runLane. */
    private readonly keyInUse?: (brokerageId: string) => Promise<string | null>,
  ) {
    this.leases = new LaneLeases(ds, this.owner, settings.leaseMs);
    this.settlements = new Settlements(ds, settings, metrics);
  }

  register(handler: OutboxHandler): void {
    this.handlers.set(handler.topic.name, handler);
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
    await this.leases
      .releaseAll()
      .catch((err) =>
        this.log.warn({ err }, "outbox: could not release this process's lane leases; they expire by themselves"),
      );
  }

  /** Waits until the runs of lanes under way now have ended (tests: what a run did, without stopping the worker). */
  async runsEnded(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  /** Rows were just committed in the agent's lane of `topic`: deliver soon (after the linger). */
  kick(topic: OutboxTopic, agent: AgentKey): void {
    this.schedule(topic.lane(agent), this.settings.lingerMs);
  }

  /**
   * After a mutation's transaction: delivers its rows now and waits for Google, at most MUTATION_WAIT_MS (`waitMs`
   * for a caller that knows better).
   * With `feature`, not at all while the brokerage has no key that can serve it (never submitted, removed, the scope
   * not authorized): the rows wait for a key, and the items answer PENDING at once with the reason as their syncError.
   * True when every row is delivered or given up.
   */
  async settle(
    topic: OutboxTopic,
    agent: AgentKey,
    seqs: number[],
    wait: { feature?: Feature; waitMs?: number } = {},
  ): Promise<boolean> {
    if (wait.feature && (await credentialProblem(this.ds.manager, agent.brokerageId, wait.feature))?.definite)
      return false;
    this.kick(topic, agent);
    return this.settlements.waitFor(agent.brokerageId, seqs, wait.waitMs ?? this.settings.mutationWaitMs);
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
    lane.timer = setTimeout(
      () => {
        lane!.timer = undefined;
        lane!.timerAt = undefined;
        this.enqueueRun(lane!);
      },
      Math.max(0, delayMs),
    );
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

  /** Schedules every lane whose head is due and that no other process holds (claim.ts). */
  private async poll(): Promise<void> {
    for (const d of await this.leases.dueLanes()) {
      if (!this.handlers.has(d.topic)) continue;
      const state = this.lanes.get(laneKey(d));
      if (state) state.heldElsewhereUntil = undefined; // its lease is free now
      this.schedule(d, 0);
    }
  }

  /** Another process holds the lane: look again when its lease may have ended, and not sooner (see schedule). */
  private heldElsewhere(lane: LaneState): number {
    lane.heldElsewhereUntil = Date.now() + this.settings.leaseMs;
    return this.settings.leaseMs;
  }

  /** keyInUse: the brokerage's key in use (keyVersion()), where a failure to ask is no key (retries keep backoff). */
  private async keyNow(brokerageId: string): Promise<string | null> {
    try {
      return (await this.keyInUse?.(brokerageId)) ?? null;
    } catch (err) {
      this.log.warn({ err, brokerageId }, 'outbox: could not tell which key is in use; the retry keeps its backoff');
      return null;
    }
  }

  /** Delivers a lane while it has due rows; resolves to when it should run again (undefined: when kicked). */
  private async runLane(lane: LaneState): Promise<number | undefined> {
    const handler = this.handlers.get(lane.ref.topic);
    if (!handler) return undefined;
    const { brokerageId } = lane.ref;
    // Another process delivers this lane; look again when its lease may have ended.
    if (!(await this.leases.acquire(lane.ref))) return this.heldElsewhere(lane);
    lane.heldElsewhereUntil = undefined;
    /** Rows made due at once in this run (setup problems, below), with the key in use they were made due for. */
    const dueAgain = new Map<number, string>();
    try {
      while (!this.stopped) {
        if (!(await this.leases.renew(lane.ref))) return this.heldElsewhere(lane);
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
        const keeper = setInterval(
          () =>
            void this.leases.renew(lane.ref).then(
              (ok) => (leaseLost ||= !ok),
              () => undefined,
            ),
          Math.max(100, Math.floor(this.settings.leaseMs / 3)),
        );
        let outcomes: Outcome[];
        try {
          // A kind this release does not deliver (written by a newer replica during a rolling deploy, or left by a
          // rollback) is never handed to the handler, nor given up: it is put off a lease's length, holding the lane in
          // order, until a release that knows it takes the lane. Not an attempt: its attempts, its ambiguous flag (a
          // newer replica's unsure send) and its last error stay as that release left them.
          const unknown = rows.findIndex((r) => !handler.topic.delivers(r.kind));
          if (unknown === 0) {
            this.log.warn(
              { lane: lane.ref, kind: rows[0].kind },
              'outbox: a row of a kind this release does not deliver waits for one that does',
            );
            outcomes = [{ seq: rows[0].seq, result: 'deferred', forMs: this.settings.leaseMs }];
          } else outcomes = await handler.deliver(lane.ref, unknown === -1 ? rows : rows.slice(0, unknown));
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
        const retryAt = await this.settlements.record(brokerageId, rows, outcomes);
        // A round that met a setup problem (no key, Google refusing the key) while an admin fixed it: the key's
        // verification made due what waited (onboarding's recovered()), but not this round, still under way, which then
        // recorded its backoff (ten minutes at most). With another key, or this one verified again, in use now, the
        // next attempt may succeed: due at once. Asked only after such a round, and each row made due at most once per
        // key in use within a run of the lane, whatever a handler says: a lane never spins (a key changes only when an
        // admin submits or verifies one), and a key verified again while that attempt was under way counts again.
        const setup = outcomes.filter(
          (o): o is Extract<Outcome, { result: 'retry' }> => o.result === 'retry' && o.setupKey !== undefined,
        );
        const key = setup.length ? await this.keyNow(brokerageId) : null;
        const due =
          key === null ? [] : setup.filter((o) => o.setupKey !== key && dueAgain.get(o.seq) !== key).map((o) => o.seq);
        if (due.length) {
          for (const seq of due) dueAgain.set(seq, key!);
          await this.ds
            .getRepository(OutboxRow)
            .update({ seq: In(due), brokerageId, status: 'PENDING' }, { nextAttemptAt: new Date() });
          continue;
        }
        if (retryAt !== undefined) return retryAt - Date.now();
        if (outcomes.length === 0) return this.settings.pollMs; // the handler could not make progress
      }
      return undefined;
    } finally {
      await this.leases.release(lane.ref).catch(() => undefined);
    }
  }
}
