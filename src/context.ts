/**
 * The per-request context: who is calling, the services, and (from later
 * issues) per-request DataLoaders and the caller's Google session. Built once
 * per HTTP request; nothing in it outlives the request except through the
 * long-lived `services`.
 */
import type { DataSource } from 'typeorm';
import type { AgentService } from './agents/agent.service';
import type { Caller, CallerDirectory } from './auth/caller';
import { TenantScope } from './auth/tenant-scope';
import type { Config } from './config';
import type { Envelope } from './crypto/envelope';
import { unauthenticated } from './errors';
import DataLoader from 'dataloader';
import type { CalendarService } from './calendar/calendar.service';
import type { CalendarSync } from './calendar/calendar.sync';
import type { CalendarWatch } from './calendar/calendar.watch';
import type { EventType } from './calendar/event.type';
import { contactLoaders, memberCounts, type ContactLoaders } from './contacts/contact.loader';
import type { ContactLabelService } from './contacts/contact-label.service';
import { toContactType, type ContactService } from './contacts/contact.service';
import { SyncStateEnum, type ContactType } from './contacts/contact.type';
import type { ContactSync } from './contacts/contact.sync';
import type { CredentialStore } from './google/credential-store';
import { credentialProblem, keyRows, type FeatureProblem } from './google/feature-health';
import type { Feature } from './google/scopes';
import type { GoogleSession } from './google/google-session';
import type { GoogleSessions } from './google/google-sessions';
import type { Metrics } from './metrics/metrics';
import type { OutboxWorker } from './outbox/worker';
import type { GatewayHooks, Hooks } from './hooks';
import type { TokenBroker } from './google/token-broker';
import type { Logger } from './logger';
import type { MailService } from './mail/mail.service';
import type { OnboardingService } from './onboarding/onboarding.service';
import type { ServiceAccountService } from './onboarding/service-account.service';

/** Long-lived, shared by every request. */
export interface Services {
  config: Config;
  ds: DataSource;
  envelope: Envelope;
  log: Logger;
  agents: AgentService;
  /** Who is calling, remembered a minute per agent (auth/caller.ts). */
  callers: CallerDirectory;
  serviceAccounts: ServiceAccountService;
  onboarding: OnboardingService;
  /** The one cross-request cache: access tokens per (credential, subject, scope). */
  broker: TokenBroker;
  credentials: CredentialStore;
  sessions: GoogleSessions;
  outbox: OutboxWorker;
  contactSync: ContactSync;
  contacts: ContactService;
  labels: ContactLabelService;
  calendar: CalendarService;
  calendarSync: CalendarSync;
  calendarWatch: CalendarWatch;
  mail: MailService;
  /** Set once the process is shutting down: /readyz answers 503 from then on. */
  lifecycle: { draining: boolean };
  /** Hooks between features (hooks.ts), subscribed in app.ts. */
  hooks: Hooks<GatewayHooks>;
  metrics: Metrics;
}

/** Per-request loaders over the caller's data. */
interface Loaders {
  contacts: ContactLoaders;
  /** Events by Google id: the same event asked for twice in one request is fetched once. */
  events: DataLoader<string, EventType | null>;
  /** How many contacts each label shows, by label id. */
  labelCounts: DataLoader<string, number>;
}

export interface GatewayContext {
  requestId: string;
  caller: Caller | null;
  services: Services;
  log: Logger;
  /** The caller's tenant scope; UNAUTHENTICATED when the request carries no token. */
  scope(): TenantScope;
  /** Google as the caller's own mailbox (built once per request). */
  google(): Promise<GoogleSession>;
  /** DataLoaders for this request (built on first use). */
  loaders(): Loaders;
  /** What the brokerage's keys say about a feature for the caller (feature-health.ts), asked once per request. */
  keyProblem(feature: Feature): Promise<FeatureProblem | null>;
  /**
   * An item's syncError as the client sees it: while it is PENDING and no key can serve its feature, that is the
   * reason, whatever the last attempt said (nothing can be delivered without a key).
   */
  syncErrorOf(feature: Feature, item: { syncState: SyncStateEnum; syncError: string | null }): Promise<string | null>;
  /** The caller's CRM contact with this email (the contacts-by-email loader: one query for all asked in a response). */
  contactByEmail(email: string): Promise<ContactType | null>;
  /**
   * Sets `contact` on each of `people` (an event's attendees, a mail's recipients) to the caller's CRM contact with its
   * email, in one loader batch: for a list that saw the field asked for, so each answers it without a promise.
   */
  attachContacts(people: { email: string; contact?: ContactType | null }[]): Promise<void>;
  /**
   * Makes the caller's contact mirror fresh (ContactSync.ensureFresh), once per request: what the contact loaders do
   * before their first read.
   */
  contactsFresh(): Promise<void>;
  /** The body was over MAX_BODY_BYTES and took a large-body slot: only sendMail may run (http/request-body.ts). */
  largeBody: boolean;
  /**
   * The `roles` claim of the caller's token, as the identity service sent it (the caller's `role` keeps only admin or
   * agent): introspection in production and PERSISTED_OPERATIONS=require exempt INTROSPECTION_ROLES
   * (http/introspection.ts).
   */
  roles: readonly string[];
}

export function createContext(
  services: Services,
  requestId: string,
  caller: Caller | null,
  largeBody = false,
  roles: readonly string[] = [],
): GatewayContext {
  let scope: TenantScope | undefined;
  let google: Promise<GoogleSession> | undefined;
  let loaders: Loaders | undefined;
  let contactsFresh: Promise<void> | undefined;
  const problems = new Map<Feature, Promise<FeatureProblem | null>>();
  let keys: ReturnType<typeof keyRows> | undefined;
  const log = services.log.child({ requestId, agent: caller?.email });
  const ctx: GatewayContext = {
    requestId,
    caller,
    services,
    log,
    largeBody,
    roles,
    scope() {
      if (!caller) throw unauthenticated('this operation needs an "Authorization: Bearer <token>" header');
      scope ??= new TenantScope(services.ds.manager, caller);
      return scope;
    },
    google() {
      const s = ctx.scope();
      google ??= services.sessions.forAgent(s.brokerageId, s.caller.email);
      return google;
    },
    keyProblem(feature) {
      const s = ctx.scope();
      let p = problems.get(feature);
      if (!p) {
        keys ??= keyRows(services.ds.manager, s.brokerageId);
        const rows = keys;
        problems.set(
          feature,
          (p = rows.then((r) => credentialProblem(services.ds.manager, s.brokerageId, feature, r))),
        );
      }
      return p;
    },
    async syncErrorOf(feature, item) {
      if (item.syncState !== SyncStateEnum.PENDING) return item.syncError;
      const problem = await ctx.keyProblem(feature);
      return problem?.definite ? problem.message : item.syncError;
    },
    async contactByEmail(email) {
      const [c] = await ctx.loaders().contacts.byEmail.load(email);
      return c ? toContactType(c) : null;
    },
    async attachContacts(people) {
      if (people.length === 0) return;
      const emails = [...new Set(people.map((p) => p.email))];
      const found = await ctx.loaders().contacts.byEmail.loadMany(emails);
      const byEmail = new Map<string, ContactType | null>();
      emails.forEach((e, i) => {
        const f = found[i];
        // A lookup that failed is left to the field (contactByEmail), whose error then names that field only.
        if (!(f instanceof Error)) byEmail.set(e, f[0] ? toContactType(f[0]) : null);
      });
      for (const p of people) if (byEmail.has(p.email)) p.contact = byEmail.get(p.email);
    },
    contactsFresh() {
      return (contactsFresh ??= services.contactSync.ensureFresh(
        ctx.scope().agent,
        services.config.contacts.freshnessMs,
      ));
    },
    loaders() {
      const scope = ctx.scope();
      let labelsFresh: Promise<void> | undefined;
      const agent = { brokerageId: scope.brokerageId, agentId: scope.agentId, email: scope.caller.email };
      const ensureLabelsFresh = () =>
        (labelsFresh ??= services.contactSync.ensureLabelsFresh(agent, services.config.contacts.freshnessMs));
      loaders ??= {
        contacts: contactLoaders(scope, () => ctx.contactsFresh(), ensureLabelsFresh),
        events: new DataLoader((ids) => services.calendar.getMany(scope, ids)),
        labelCounts: new DataLoader(async (ids) => {
          const counts = await memberCounts(scope, [...ids]);
          return ids.map((id) => counts.get(id) ?? 0);
        }),
      };
      return loaders;
    },
  };
  return ctx;
}
