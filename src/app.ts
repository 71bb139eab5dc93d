/**
 * The composition root: config + database → services → GraphQL schema →
 * HTTP gateway. main.ts runs it for real; tests run it on port 0 against
 * their own database.
 */
import type { DataSource } from 'typeorm';
import { AgentService } from './agents/agent.service';
import { CallerTokenVerifier } from './auth/caller-token';
import { CallerDirectory } from './auth/caller';
import { DatabasePulse } from './db/unavailable';
import type { Config } from './config';
import type { Services } from './context';
import { Envelope } from './crypto/envelope';
import type { Logger } from './logger';
import { CalendarDelivery } from './calendar/calendar.delivery';
import { CalendarService } from './calendar/calendar.service';
import { CalendarSync } from './calendar/calendar.sync';
import { CalendarWatch } from './calendar/calendar.watch';
import { viewCache } from './calendar/range-cache';
import { ContactDelivery } from './contacts/contact.delivery';
import { ContactLabelService } from './contacts/contact-label.service';
import { ContactService } from './contacts/contact.service';
import { ContactSync } from './contacts/contact.sync';
import { CredentialStore } from './google/credential-store';
import { MailDelivery } from './mail/mail.delivery';
import { MailService } from './mail/mail.service';
import { GoogleSessions } from './google/google-sessions';
import { keyVersion } from './google/google-session';
import { OutboxWorker } from './outbox/worker';
import { TokenBroker } from './google/token-broker';
import { retryClosedConnection } from './google/closed-connection';
import { instrumentedFetch } from './metrics/google-method';
import { Metrics } from './metrics/metrics';
import { OnboardingService } from './onboarding/onboarding.service';
import { ServiceAccountService } from './onboarding/service-account.service';
import { Hooks, type GatewayHooks } from './hooks';
import { buildGatewaySchema } from './schema';
import { createGateway, type Gateway } from './server';
import { VERSION } from './version';

/**
 * Every service, built once from the config (each setting derived in config.ts, never here). Features that must not
 * import each other meet through typed hooks (hooks.ts): onboarding announces a key taken out of use, the calendar
 * releases its push channels and views.
 */
export function buildServices(
  config: Config,
  ds: DataSource,
  log: Logger,
  opts: { broker?: TokenBroker } = {},
): Services {
  const envelope = new Envelope(config.keyEncryptionKeys);
  const metrics = new Metrics(ds);
  const broker = opts.broker ?? new TokenBroker();
  broker.onResult = (result) => metrics.tokenRequests.inc({ result });
  const credentials = new CredentialStore(envelope, config.google.allowedTokenUris);
  // A round that met a setup problem is due at once when by its end another key, or the same verified again, is in
  // use (outbox/worker.ts).
  const outbox = new OutboxWorker(ds, log, config.outbox, metrics, async (brokerageId) => {
    const row = await credentials.inUseRow(ds.manager, brokerageId);
    return row ? keyVersion(row) : null;
  });
  // Google calls name this process as the outbox's leases do, so Google's logs tell the replicas apart.
  const userAgent = { product: 'engage-gateway', version: VERSION, comment: outbox.owner };
  // What every Google call goes through, the agents' sessions and the key check's alike: each attempt counted, and a
  // read that met a connection closed under it sent once more (closed-connection.ts).
  const google = {
    ...config.google,
    fetch: retryClosedConnection(instrumentedFetch(metrics, config.google.roots)),
    userAgent,
  };
  const sessions = new GoogleSessions(ds, broker, credentials, google);
  const hooks = new Hooks<GatewayHooks>();

  const contactSync = new ContactSync({
    ds,
    sessions,
    outbox,
    log,
    metrics,
    retentionMs: config.contacts.changesRetentionMs,
  });
  outbox.register(new ContactDelivery({ ds, sessions, sync: contactSync, log }));

  const views = viewCache(config.calendar, ds, log);
  const calendarSync = new CalendarSync({
    ds,
    sessions,
    pastDays: config.calendar.syncPastDays,
    retentionMs: config.calendar.changesRetentionMs,
    freshnessMs: config.calendar.cacheMs,
    log,
    metrics,
  });
  const calendarWatch = new CalendarWatch({
    ds,
    sessions,
    cache: views,
    sync: calendarSync,
    log,
    settings: config.calendar,
  });
  const calendar = new CalendarService({
    ds,
    sessions,
    outbox,
    cache: views,
    watch: calendarWatch,
    settings: config.calendar,
  });
  outbox.register(new CalendarDelivery({ ds, sessions, cache: views, log, feed: calendarSync }));
  hooks.on('credentialRetired', ({ brokerageId, credential }) =>
    calendarWatch.stopForBrokerage(brokerageId, credential),
  );
  hooks.on('credentialRemoved', ({ brokerageId }) => calendar.dropViewsOf(brokerageId));

  outbox.register(new MailDelivery({ ds, sessions, log, giveUpMs: config.mail.giveUpMs }));

  const pulse = new DatabasePulse(ds);
  return {
    config,
    ds,
    log,
    envelope,
    broker,
    credentials,
    sessions,
    outbox,
    metrics,
    hooks,
    lifecycle: { draining: false },
    contactSync,
    contacts: new ContactService({ sync: contactSync, outbox, settings: config.contacts }),
    labels: new ContactLabelService({ sync: contactSync, outbox, settings: config.contacts }),
    calendar,
    calendarSync,
    calendarWatch,
    mail: new MailService({ outbox, settings: config.mail }),
    agents: new AgentService(),
    callers: new CallerDirectory(ds, () => pulse.check()),
    serviceAccounts: new ServiceAccountService(),
    onboarding: new OnboardingService({ ds, envelope, broker, credentials, google, log, hooks }),
  };
}

export async function createApp(
  config: Config,
  ds: DataSource,
  log: Logger,
  opts: { broker?: TokenBroker } = {},
): Promise<{ services: Services; gateway: Gateway }> {
  const services = buildServices(config, ds, log, opts);
  const gateway = await createGateway(services, await buildGatewaySchema(), new CallerTokenVerifier(config.auth));
  services.outbox.start();
  services.calendarWatch.start();
  services.calendarSync.start();
  services.contactSync.start();
  const close = gateway.close.bind(gateway);
  // Graceful stop (SIGTERM): not ready at once; stop taking lanes and release the ones held (another replica goes
  // on with them), then the HTTP server drains its requests; undelivered rows stay for the next start.
  gateway.close = async () => {
    services.lifecycle.draining = true;
    await services.outbox.stop();
    await services.calendarWatch.stop();
    await services.calendarSync.stop();
    await services.contactSync.stop();
    await close();
  };
  return { services, gateway };
}
