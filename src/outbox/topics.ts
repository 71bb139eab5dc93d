/**
 * What may be written to the outbox: one topic per Google API, each with the kinds of write its handler delivers.
 * A write is recorded with `topic.write(manager, agent, { kind, entityId })` inside the transaction of the local
 * change it stands for (the transactional outbox: the row commits with the change or not at all); the worker then
 * delivers it in the agent's lane of that topic, in order (worker.ts).
 */
import type { EntityManager } from 'typeorm';
import type { AgentKey } from '../agents/agent-ref';
import { OutboxRow } from '../entities';

/** One agent's queue in one topic: delivered in order, by one process at a time (claim.ts). */
export interface LaneRef {
  topic: string;
  brokerageId: string;
  agentId: string;
}

export interface OutboxWrite<K extends string> {
  kind: K;
  /** The row the handler delivers (a contact, label, event or mail id; for `delete-copy` a People resourceName). */
  entityId: string;
}

export class OutboxTopic<const K extends string = string> {
  constructor(
    readonly name: string,
    readonly kinds: readonly K[],
  ) {}

  lane(agent: AgentKey): LaneRef {
    return { topic: this.name, brokerageId: agent.brokerageId, agentId: agent.agentId };
  }

  delivers(kind: string): kind is K {
    return (this.kinds as readonly string[]).includes(kind);
  }

  /** Queues writes for the agent in the caller's transaction `m`, in order; their sequence numbers (for settle). */
  async write(
    m: EntityManager,
    agent: AgentKey,
    writes: OutboxWrite<K> | readonly OutboxWrite<K>[],
    now = new Date(),
  ): Promise<number[]> {
    const list: readonly OutboxWrite<K>[] = Array.isArray(writes) ? writes : [writes as OutboxWrite<K>];
    const seqs: number[] = [];
    for (const w of list) {
      const res = await m.getRepository(OutboxRow).insert({
        brokerageId: agent.brokerageId,
        agentId: agent.agentId,
        topic: this.name,
        kind: w.kind,
        entityId: w.entityId,
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
}

/** Contacts and their labels (People API): one lane per agent, so a label change waits for the contact it names. */
export const CONTACTS_OUTBOX = new OutboxTopic('contacts', [
  'create',
  'update',
  'delete',
  'delete-copy',
  'label-create',
  'label-update',
  'label-delete',
  'label-members',
]);
/** Events of the agent's primary calendar (Calendar API). */
export const CALENDAR_OUTBOX = new OutboxTopic('calendar', ['create', 'patch', 'delete']);
/** Mail sent as the agent (Gmail API). */
export const MAIL_OUTBOX = new OutboxTopic('mail', ['send']);
