/**
 * Claiming lanes. A lane is delivered by one process at a time: the process holds a short lease on the lane's
 * `outbox_lease` row, taken with one atomic conditional UPDATE (the row lock of that statement serializes contenders
 * on MySQL/MariaDB and SQLite alike, where `SELECT … FOR UPDATE SKIP LOCKED` would not exist), renewed while it
 * works, and released when done. A crashed holder's lease expires and another process takes the lane over.
 *
 * Which lanes to claim: those whose head row is due (dueLanes), taken fairly across brokerages (pickLanes).
 */
import type { DataSource } from 'typeorm';
import { In } from 'typeorm';
import { OutboxLease, OutboxRow } from '../entities';
import type { LaneRef } from './topics';

/** Lanes one poll schedules, taken fairly from the oldest due POLL_CANDIDATES heads. */
const POLL_LANES = 100;
const POLL_CANDIDATES = 1000;

/** A lane's name, `<topic>:<agentId>`: the key of a process's lane state and of its lease row. */
export function laneKey(ref: Pick<LaneRef, 'topic' | 'agentId'>): string {
  return `${ref.topic}:${ref.agentId}`;
}

/** The lease row of a lane, with its tenant key. */
function leaseKey(ref: LaneRef): { lane: string; brokerageId: string } {
  return { lane: laneKey(ref), brokerageId: ref.brokerageId };
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

/** The leases of one process (`owner`). */
export class LaneLeases {
  constructor(
    private readonly ds: DataSource,
    readonly owner: string,
    private readonly leaseMs: number,
  ) {}

  /**
   * Lanes whose head is due, whoever wrote them (this or another process, or retries coming due), oldest due first
   * and each brokerage in turn (pickLanes), without those another process holds. Only the head counts: rows queued
   * behind a head that backs off (up to RETRY_MAX, or for good while a brokerage has no key) are "due" by their own
   * time but cannot go before it; when they counted, 100 such lanes filled every poll and no other lane was found
   * again, not even after a restart.
   */
  async dueLanes(): Promise<LaneRef[]> {
    const due: LaneRef[] = await this.ds
      .getRepository(OutboxRow)
      .createQueryBuilder('o')
      .select(['o.topic AS topic', 'o.agentId AS agentId', 'o.brokerageId AS brokerageId'])
      .where('o.status = :s', { s: 'PENDING' })
      .andWhere('o.nextAttemptAt <= :now', { now: new Date() })
      .andWhere(
        (qb) =>
          `o.seq = ${qb.subQuery().select('MIN(h.seq)').from(OutboxRow, 'h').where('h.brokerageId = o.brokerageId AND h.topic = o.topic AND h.agentId = o.agentId AND h.status = :s').getQuery()}`,
      )
      .orderBy('o.nextAttemptAt', 'ASC')
      .addOrderBy('o.seq', 'ASC')
      .limit(POLL_CANDIDATES)
      .getRawMany();
    // A lane another process holds looks due while that process delivers it: left alone until its lease ends or is
    // released (a process stopping gracefully releases its leases; then this poll takes the lane at once).
    const now = new Date();
    const leases = due.length
      ? await this.ds
          .getRepository(OutboxLease)
          .find({ where: { lane: In(due.map(laneKey)), brokerageId: In([...new Set(due.map((d) => d.brokerageId))]) } })
      : [];
    const heldElsewhere = new Set(leases.filter((l) => l.owner !== this.owner && l.until > now).map((l) => l.lane));
    const free = due.filter((d) => !heldElsewhere.has(laneKey(d)));
    return pickLanes(
      free.map((d, i) => ({ topic: d.topic, agentId: d.agentId, brokerageId: d.brokerageId, dueAt: i })),
      POLL_LANES,
    ).map(({ topic, agentId, brokerageId }) => ({ topic, agentId, brokerageId }));
  }

  /** Takes the lane's lease; false when another process holds it. */
  async acquire(ref: LaneRef): Promise<boolean> {
    const { lane, brokerageId } = leaseKey(ref);
    const now = new Date();
    const until = new Date(now.getTime() + this.leaseMs);
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

  /** Extends the lease; false when it was lost (expired and taken by another process). */
  async renew(ref: LaneRef): Promise<boolean> {
    const res = await this.ds
      .getRepository(OutboxLease)
      .update({ ...leaseKey(ref), owner: this.owner }, { until: new Date(Date.now() + this.leaseMs) });
    return Boolean(res.affected);
  }

  async release(ref: LaneRef): Promise<void> {
    await this.ds.getRepository(OutboxLease).update({ ...leaseKey(ref), owner: this.owner }, { until: new Date(0) });
  }

  /** Deletes every lease of this process (a graceful stop): other processes take those lanes at their next poll. */
  async releaseAll(): Promise<void> {
    await this.ds.getRepository(OutboxLease).delete({ owner: this.owner });
  }
}
