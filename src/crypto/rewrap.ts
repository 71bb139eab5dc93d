/**
 * KEK rotation: re-wraps the data key of every key in use that is not wrapped
 * by the active key-encryption key; retired keys are skipped (see below).
 * Secrets themselves are not re-encrypted. Each row is updated in its own
 * transaction, guarded by its old kekId so two concurrent runs cannot
 * overwrite each other, and audit-logged.
 */
import type { DataSource } from 'typeorm';
import { Not } from 'typeorm';
import { recordAudit } from '../audit/audit.service';
import { ServiceAccountCredential } from '../entities';
import type { Envelope } from './envelope';

export interface RewrapReport {
  activeKekId: string;
  rewrapped: number;
  failed: { credentialId: string; brokerageId: string; reason: string }[];
}

export async function rewrapAllCredentials(ds: DataSource, envelope: Envelope, actor: string): Promise<RewrapReport> {
  const report: RewrapReport = { activeKekId: envelope.activeKekId, rewrapped: 0, failed: [] };
  const stale = await ds.getRepository(ServiceAccountCredential).find({
    // Only keys in use. A replaced or removed key is erased (wrappedKey and ciphertext ''): nothing to re-wrap, and
    // Envelope.rewrap, which proves the pair still opens, would fail on it. A RETIRED key that still holds its secret
    // (retired before replaced keys were erased) is not carried over to the new KEK either: once the old KEK is
    // dropped it can no longer be opened.
    where: { kekId: Not(envelope.activeKekId), status: Not('RETIRED'), wrappedKey: Not(''), ciphertext: Not('') },
    select: { id: true, brokerageId: true, kekId: true, wrappedKey: true, ciphertext: true },
  });
  for (const row of stale) {
    try {
      const next = envelope.rewrap(row, { brokerageId: row.brokerageId, purpose: 'service-account-key' });
      await ds.transaction(async (m) => {
        const res = await m.getRepository(ServiceAccountCredential).update(
          // not if erased (key removed) or re-wrapped meanwhile
          { id: row.id, brokerageId: row.brokerageId, kekId: row.kekId, wrappedKey: row.wrappedKey },
          { kekId: next.kekId, wrappedKey: next.wrappedKey, updatedAt: new Date() },
        );
        if (!res.affected) return; // changed meanwhile by another run
        await recordAudit(m, {
          brokerageId: row.brokerageId,
          actor,
          action: 'credential.kek_rewrapped',
          target: row.id,
          detail: { from: row.kekId, to: next.kekId },
        });
        report.rewrapped++;
      });
    } catch (err) {
      report.failed.push({ credentialId: row.id, brokerageId: row.brokerageId, reason: (err as Error).message });
    }
  }
  return report;
}
