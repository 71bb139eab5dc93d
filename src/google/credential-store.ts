/**
 * Loads a brokerage's key in use: the one credential row that is not RETIRED,
 * decrypted (envelope) and parsed into a signing key. Decrypted keys are kept
 * in memory by (row id, version) so requests do not decrypt on every call;
 * a replaced or re-wrapped row has a new version and is loaded afresh.
 */
import type { EntityManager } from 'typeorm';
import { Not } from 'typeorm';
import type { Envelope } from '../crypto/envelope';
import { ServiceAccountCredential } from '../entities';
import type { LoadedCredential } from './google-session';
import { parseServiceAccountKey } from './service-account-key';

export class CredentialStore {
  private readonly cache = new Map<string, { version: string; loaded: LoadedCredential }>();

  constructor(
    private readonly envelope: Envelope,
    private readonly allowedTokenUris: readonly string[],
  ) {}

  /** The row in use for a brokerage, or null. */
  inUseRow(manager: EntityManager, brokerageId: string): Promise<ServiceAccountCredential | null> {
    return manager
      .getRepository(ServiceAccountCredential)
      .findOne({ where: { brokerageId, status: Not('RETIRED') }, order: { createdAt: 'DESC' } });
  }

  async current(manager: EntityManager, brokerageId: string): Promise<LoadedCredential | null> {
    const row = await this.inUseRow(manager, brokerageId);
    // A key replaced or removed (perhaps by another replica) leaves no decrypted copy behind in this process.
    for (const [id, e] of this.cache) if (e.loaded.brokerageId === brokerageId && id !== row?.id) this.cache.delete(id);
    return row ? this.load(row) : null;
  }

  load(row: ServiceAccountCredential): LoadedCredential {
    const version = `${row.updatedAt.getTime()}:${row.kekId}:${row.grantedScopes ?? ''}:${row.verifiedAt?.getTime()}`;
    const hit = this.cache.get(row.id);
    if (hit && hit.version === version) return hit.loaded;
    const json = this.envelope.decrypt(row, { brokerageId: row.brokerageId, purpose: 'service-account-key' });
    const { key, privateKey } = parseServiceAccountKey(json, this.allowedTokenUris);
    const loaded: LoadedCredential = {
      id: row.id,
      brokerageId: row.brokerageId,
      key,
      privateKey,
      grantedScopes: row.grantedScopes ? new Set(JSON.parse(row.grantedScopes) as string[]) : null,
      verifiedAt: row.verifiedAt,
    };
    this.cache.set(row.id, { version, loaded });
    return loaded;
  }

  forget(credentialId: string): void {
    this.cache.delete(credentialId);
  }
}
