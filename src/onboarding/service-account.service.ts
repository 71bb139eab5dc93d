import { In } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import { ServiceAccountCredential } from '../entities';
import { CredentialStatusEnum, type ServiceAccountType } from './service-account.type';

export class ServiceAccountService {
  /** The credential in use (or, before any verified one, the latest submitted), or null. */
  async current(scope: TenantScope): Promise<ServiceAccountType | null> {
    const verified = await scope.findOneInBrokerage(ServiceAccountCredential, { status: 'VERIFIED' }, { verifiedAt: 'DESC' });
    const row = verified ?? (await scope.findOneInBrokerage(ServiceAccountCredential, { status: In(['PENDING', 'CANNOT_BE_VERIFIED']) }, { createdAt: 'DESC' }));
    if (!row) return null;
    return {
      clientEmail: row.clientEmail,
      clientId: row.clientId,
      privateKeyId: row.privateKeyId,
      status: CredentialStatusEnum[row.status],
      verifiedAt: row.verifiedAt,
    };
  }
}
