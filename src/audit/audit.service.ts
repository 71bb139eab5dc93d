import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { AuditLog } from '../entities';

export interface AuditEntry {
  brokerageId: string | null;
  actor: string;
  action: string;
  target?: string | null;
  /** Must never contain secrets; stored as JSON. */
  detail?: Record<string, unknown>;
}

/** Appends an audit-log row inside the caller's transaction, so it commits or rolls back with the action. */
export async function recordAudit(manager: EntityManager, entry: AuditEntry, at = new Date()): Promise<void> {
  await manager.getRepository(AuditLog).insert({
    id: randomUUID(),
    brokerageId: entry.brokerageId,
    actor: entry.actor,
    action: entry.action,
    target: entry.target ?? null,
    detail: entry.detail ? JSON.stringify(entry.detail) : null,
    at,
  });
}
