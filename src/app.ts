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
import { CredentialStore } from './google/credential-store';
import { TokenBroker } from './google/token-broker';
import { OnboardingService } from './onboarding/onboarding.service';
import { ServiceAccountService } from './onboarding/service-account.service';
import { buildGatewaySchema } from './schema';
import { createGateway, type Gateway } from './server';

export function buildServices(config: Config, ds: DataSource, log: Logger, opts: { broker?: TokenBroker } = {}): Services {
  const envelope = new Envelope(config.keyEncryptionKeys);
  const broker = opts.broker ?? new TokenBroker();
  const credentials = new CredentialStore(envelope, config.google.allowedTokenUris);
  return {
    config,
    ds,
    log,
    envelope,
    broker,
    credentials,
    agents: new AgentService(),
    serviceAccounts: new ServiceAccountService(),
    onboarding: new OnboardingService({ ds, envelope, broker, credentials, google: config.google, log }),
  };
}

export async function createApp(config: Config, ds: DataSource, log: Logger, opts: { broker?: TokenBroker } = {}): Promise<{ services: Services; gateway: Gateway }> {
  const services = buildServices(config, ds, log, opts);
  const gateway = await createGateway(services, await buildGatewaySchema(), new CallerTokenVerifier(config.auth));
  return { services, gateway };
}
