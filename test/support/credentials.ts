import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Envelope } from '../../src/crypto/envelope';
import { ServiceAccountCredential } from '../../src/entities';
import type { CredentialStatus } from '../../src/entities/service-account-credential.entity';

/** Stores a (fake-content) key JSON for a brokerage the way the gateway does: envelope-encrypted. */
export async function storeCredential(
  ds: DataSource,
  envelope: Envelope,
  brokerageId: string,
  o: { clientEmail: string; status?: CredentialStatus; keyJson?: string },
): Promise<ServiceAccountCredential> {
  const keyJson =
    o.keyJson ??
    JSON.stringify({
      type: 'service_account',
      client_email: o.clientEmail,
      private_key: `-----BEGIN PRIVATE KEY-----\n${randomUUID()}\n-----END PRIVATE KEY-----\n`,
    });
  const sealed = envelope.encrypt(keyJson, { brokerageId, purpose: 'service-account-key' });
  const now = new Date();
  const row: ServiceAccountCredential = {
    id: randomUUID(),
    brokerageId,
    status: o.status ?? 'VERIFIED',
    clientEmail: o.clientEmail,
    clientId: String(Math.floor(Math.random() * 1e15)).padStart(21, '1'),
    privateKeyId: randomUUID().replace(/-/g, ''),
    ...sealed,
    verifiedAt: (o.status ?? 'VERIFIED') === 'VERIFIED' ? now : null,
    lastChecks: null,
    testEmail: null,
    grantedScopes: null,
    createdAt: now,
    updatedAt: now,
  };
  await ds.getRepository(ServiceAccountCredential).insert(row);
  return row;
}
