import type { EntityManager } from 'typeorm';
import { credentialProblem } from '../google/feature-health';
import type { Feature } from '../google/scopes';
import type { LaneRef, OutboxWorker } from './outbox';

/**
 * After a mutation's transaction: delivers its outbox rows now and waits for Google, at most `waitMs`
 * (MUTATION_WAIT_MS); not at all while the brokerage has no key that can serve `feature` (never submitted, removed,
 * the scope not authorized): the rows wait for a key, and the items answer PENDING at once with the reason as their
 * syncError.
 */
export async function deliverNow(outbox: OutboxWorker, m: EntityManager, lane: LaneRef, seqs: number[], feature: Feature, waitMs: number): Promise<void> {
  if ((await credentialProblem(m, lane.brokerageId, feature))?.definite) return;
  outbox.kick(lane);
  await outbox.waitFor(lane.brokerageId, seqs, waitMs);
}
