import { In } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import { ServiceAccountCredential } from '../entities';
import { CredentialStatusEnum, type ServiceAccountType } from './service-account.type';

export class ServiceAccountService {
  /** The credential in use, or null. */
  async current(scope: TenantScope): Promise<ServiceAccountType | null> {
    const row = await scope.findOneInBrokerage(
      ServiceAccountCredential,
      { status: In(['VERIFIED', 'CANNOT_BE_VERIFIED']) },
      { createdAt: 'DESC' },
    );
    if (!row) return null;
    return {
      id: row.privateKeyId,
      clientEmail: row.clientEmail,
      clientId: row.clientId,
      privateKeyId: row.privateKeyId,
      status: CredentialStatusEnum[row.status],
      verifiedAt: row.verifiedAt,
      testEmail: row.testEmail,
      grantedScopes: row.grantedScopes ? (JSON.parse(row.grantedScopes) as string[]) : [],
      lastChecks: row.lastChecks ? JSON.parse(row.lastChecks) : null,
    };
  }
}
