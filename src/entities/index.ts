import { Agent } from './agent.entity';
import { AuditLog } from './audit-log.entity';
import { Brokerage } from './brokerage.entity';
import { ServiceAccountCredential } from './service-account-credential.entity';

export { Agent, AuditLog, Brokerage, ServiceAccountCredential };

/** Every entity, for the DataSource. Later issues append theirs. */
export const ENTITIES = [Brokerage, Agent, ServiceAccountCredential, AuditLog];
