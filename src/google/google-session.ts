/**
 * A GoogleSession is one agent's view of Google: authorized People, Calendar
 * and Gmail clients that act as that agent's mailbox (JWT `sub`), built per
 * request (or per outbox delivery) and never shared between mailboxes.
 *
 * Tokens come from the process-wide TokenBroker, one per scope, so a missing
 * scope only disables its own feature. API roots come from configuration
 * (`rootUrl` per service: the global option does not redirect, docs/google-behaviour.md
 * §1.6). googleapis' automatic retries are off: the callers (interactive reads,
 * the outbox) decide retries from mapGoogleError, which honours Retry-After.
 */
import type { KeyObject } from 'node:crypto';
import { AppError, ErrorCode } from '../errors';
import { CalendarDriver } from './calendar';
import type { FeatureProblem } from './feature-health';
import { GmailDriver } from './gmail';
import { failureToAppError, mapGoogleError, type GoogleApi } from './google-errors';
import { PeopleDriver } from './people';
import type { DriverOptions } from './driver-options';
import { FEATURE_SCOPES, type Feature } from './scopes';
import type { ServiceAccountKey } from './service-account-key';
import type { TokenBroker } from './token-broker';
import { seeGuide } from './setup-guide';

export interface GoogleRoots {
  people: string;
  calendar: string;
  gmail: string;
}

/** A decrypted, parsed credential ready to sign token requests. */
export interface LoadedCredential {
  id: string;
  brokerageId: string;
  key: ServiceAccountKey;
  privateKey: KeyObject;
  /** Scopes the last verification obtained tokens for; null when unknown (then each is tried). */
  grantedScopes: ReadonlySet<string> | null;
  /** When the key last passed verification (null: a key being checked for the first time). */
  verifiedAt: Date | null;
}

/**
 * Names a brokerage's key in use as of its last verification ('none': no key): a new key, or the same key verified
 * again, is named differently. A delivery that met a setup problem records the name; the outbox tries it again at once
 * if by the end of its round the name has changed (outbox/worker.ts).
 */
export function keyVersion(cred: { id: string; verifiedAt: Date | null } | null): string {
  return cred ? `${cred.id}@${cred.verifiedAt?.getTime() ?? '-'}` : 'none';
}

/**
 * Options of every client. `retry: false`: callers decide retries (see the
 * header). `fetchImplementation`: Node's own fetch; gaxios would otherwise load
 * node-fetch with a dynamic import, which jest's module system cannot run, and
 * tests must exercise the same transport as production.
 */
const CLIENT_DEFAULTS = { retry: false } as const;

export interface GoogleSessionOptions {
  roots: GoogleRoots;
  requestTimeoutMs: number;
  fetch?: typeof fetch;
  /**
   * Put before the Google client's own product in the User-Agent (`engage-gateway/0.1.0 (host:pid:…)`): Google's
   * logs then tell which gateway process made a call, as the emulator's request log does in the replica tests.
   */
  userAgent?: { product: string; version: string; comment?: string };
}

const FEATURE_API: Record<Feature, GoogleApi> = { contacts: 'people', calendar: 'calendar', mail: 'gmail' };

export class GoogleSession {
  constructor(
    private readonly broker: TokenBroker,
    private readonly options: GoogleSessionOptions,
    private readonly credential: LoadedCredential | null,
    /** The agent's own mailbox; the only one this session acts as. */
    readonly subject: string,
    /** Why there is no credential (never submitted, removed): what every call answers then. */
    private readonly noKey: Record<Feature, Pick<FeatureProblem, 'message' | 'remedy'>> | null = null,
  ) {}

  /** The key this session uses, as keyVersion() names it. */
  get keyVersion(): string {
    return keyVersion(this.credential);
  }

  async people(): Promise<PeopleDriver> {
    return new PeopleDriver(await this.driverOptions('contacts', this.options.roots.people));
  }

  async calendar(): Promise<CalendarDriver> {
    return new CalendarDriver(await this.driverOptions('calendar', this.options.roots.calendar));
  }

  async gmail(): Promise<GmailDriver> {
    return new GmailDriver(await this.driverOptions('mail', this.options.roots.gmail));
  }

  private async driverOptions(feature: Feature, rootUrl: string): Promise<DriverOptions> {
    const { fetch: fetchImpl, requestTimeoutMs, userAgent } = this.options;
    const client = {
      ...CLIENT_DEFAULTS,
      rootUrl,
      fetchImplementation: fetchImpl ?? fetch,
      timeout: requestTimeoutMs,
      ...(userAgent ? { userAgentDirectives: [userAgent] } : {}),
    };
    return { accessToken: await this.accessToken(feature), client };
  }

  /** The scope used for a feature (for contacts: whichever the brokerage authorized). */
  scopeFor(feature: Feature): string {
    const acceptable = FEATURE_SCOPES[feature];
    const granted = this.credential?.grantedScopes;
    return (granted && acceptable.find((s) => granted.has(s))) ?? acceptable[0];
  }

  /**
   * An access token for the feature's scope; GOOGLE_NOT_CONFIGURED (naming the scope and the fix) when Google refuses.
   */
  async accessToken(feature: Feature): Promise<string> {
    const cred = this.credential;
    if (!cred) {
      throw new AppError(
        ErrorCode.GOOGLE_NOT_CONFIGURED,
        this.noKey?.[feature].message ?? 'This brokerage has no Google service-account key in use',
        {
          remedy:
            this.noKey?.[feature].remedy ??
            'A brokerage admin submits the service-account key with submitServiceAccountKey.',
        },
      );
    }
    const acceptable = FEATURE_SCOPES[feature];
    const granted = cred.grantedScopes;
    if (granted && !acceptable.some((s) => granted.has(s))) {
      throw new AppError(
        ErrorCode.GOOGLE_NOT_CONFIGURED,
        `The brokerage has not authorized the scope ${acceptable.join(' or ')} needed for ${feature}`,
        {
          scope: acceptable[0],
          remedy: `Authorize client id ${cred.key.client_id} for ${acceptable[0]} in Admin console › Security › API controls › Domain-wide delegation (guide step "Authorize the MoxiEngage Service Account as an API Client"), then run verifyServiceAccount. ${seeGuide('delegation')}`,
        },
      );
    }
    const scope = this.scopeFor(feature);
    try {
      const t = await this.broker.getToken({
        credentialId: cred.id,
        clientEmail: cred.key.client_email,
        privateKey: cred.privateKey,
        tokenUri: cred.key.token_uri,
        subject: this.subject,
        scope,
      });
      return t.token;
    } catch (err) {
      const f = mapGoogleError(err, {
        api: 'token',
        clientId: cred.key.client_id,
        scopes: [scope],
        subject: this.subject,
      });
      const appErr = failureToAppError(f);
      if (f.kind === 'delegation-missing') appErr.extensions.scope = scope;
      throw appErr;
    }
  }

  /**
   * Maps an API failure of this session (errors from the clients above) to our error. A 401 means Google no longer
   * takes the token we hold (revoked, or expired before the time it gave us): the key's cached tokens are dropped, so
   * the next call mints a new one instead of being refused with the same token until it would have expired.
   */
  toAppError(err: unknown, feature: Feature): AppError {
    const f = mapGoogleError(err, {
      api: FEATURE_API[feature],
      subject: this.subject,
      clientId: this.credential?.key.client_id,
    });
    if (f.kind === 'token-rejected' && this.credential) this.broker.forgetCredential(this.credential.id);
    return failureToAppError(f);
  }
}
