/**
 * The composition root: config + database → services → GraphQL schema →
 * HTTP gateway. main.ts runs it for real; tests run it on port 0 against
 * their own database.
 */
import type { DataSource } from 'typeorm';
import { AgentService } from './agents/agent.service';
import { CallerTokenVerifier } from './auth/caller-token';
import type { Config } from './config';
import type { Services } from './context';
import { Envelope } from './crypto/envelope';
import type { Logger } from './logger';
import { ServiceAccountService } from './onboarding/service-account.service';
import { buildGatewaySchema } from './schema';
import { createGateway, type Gateway } from './server';

export function buildServices(config: Config, ds: DataSource, log: Logger): Services {
  return {
    config,
    ds,
    log,
    envelope: new Envelope(config.keyEncryptionKeys),
    agents: new AgentService(),
    serviceAccounts: new ServiceAccountService(),
  };
}

export async function createApp(config: Config, ds: DataSource, log: Logger): Promise<{ services: Services; gateway: Gateway }> {
  const services = buildServices(config, ds, log);
  const gateway = await createGateway(services, await buildGatewaySchema(), new CallerTokenVerifier(config.auth));
  return { services, gateway };
}
