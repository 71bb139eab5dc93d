/**
 * What a brokerage's keys say about one feature, for every agent of the brokerage, without asking Google: no key was
 * ever submitted, the key was removed, the key in use failed its latest verification for this feature, or it lacks
 * the feature's scope. syncStatus shows it before any sync has run (and stops showing it as soon as a key serves the
 * feature again), writes answer PENDING at once with it instead of waiting for a delivery that cannot happen, and a
 * session without a key refuses with the same words.
 */
import type { EntityManager } from 'typeorm';
import { Brokerage, ServiceAccountCredential } from '../entities';
import { type AppError, ErrorCode } from '../errors';
import { FEATURE_SCOPES, type Feature } from './scopes';
import { seeGuide } from './setup-guide';

export interface FeatureProblem {
  code: ErrorCode;
  message: string;
  remedy: string | null;
  /** Since when it holds; null when unknown. */
  since: Date | null;
  /**
   * True when our own sessions refuse without asking Google (no key in use, a scope not granted): nothing can be
   * delivered, so writes do not wait for a delivery. False for what the latest verification saw, which may have been
   * fixed since (it stops showing once a sync of the feature succeeds after it).
   */
  definite: boolean;
}

type KeyRow = Pick<
  ServiceAccountCredential,
  'status' | 'grantedScopes' | 'lastChecks' | 'verifiedAt' | 'updatedAt' | 'createdAt'
>;

/** The brokerage's keys, as credentialProblem reads them (one query serves every feature). */
export function keyRows(manager: EntityManager, brokerageId: string): Promise<KeyRow[]> {
  return manager.getRepository(ServiceAccountCredential).find({
    where: { brokerageId },
    select: {
      id: true,
      status: true,
      grantedScopes: true,
      lastChecks: true,
      verifiedAt: true,
      updatedAt: true,
      createdAt: true,
    },
    order: { createdAt: 'DESC' },
  });
}

/** The onboarding checks (src/onboarding/doctor.ts) that concern each feature. */
const FEATURE_CHECKS: Record<Feature, readonly string[]> = {
  contacts: ['token:contacts', 'api:people', 'sync:contacts'],
  calendar: ['token:calendar', 'api:calendar'],
  mail: ['token:mail', 'api:gmail'],
};

/**
 * Failed checks that say the brokerage's setup is wrong for everyone (failure kinds of google-errors.ts). Not those
 * about the test user alone (an unknown user, no mailbox), Google being unreachable, or a failure of ours: the syncs
 * and deliveries of each agent report those themselves.
 */
export const SETUP_CHECK_CODES: ReadonlySet<string> = new Set([
  'DELEGATION_MISSING',
  'KEY_INVALID',
  'INVALID_SCOPE',
  'CLIENT_DISABLED',
  'CLIENT_DELETED',
  'ADMIN_POLICY',
  'API_DISABLED',
  'INSUFFICIENT_SCOPE',
]);

/** What happens to a feature's writes made while it has no key. */
const MEANWHILE: Record<Feature, string> = {
  contacts: 'Changes made meanwhile are kept and reach Google once a key is verified.',
  calendar: 'Changes made meanwhile are kept and reach Google once a key is verified.',
  mail: 'Mail sent meanwhile fails with this reason: send it again once a key is verified.',
};

/** The brokerage's state when it has no key in use (never submitted, or removed, and when), for each feature. */
export async function noKeyProblems(
  manager: EntityManager,
  brokerageId: string,
  rows?: Pick<ServiceAccountCredential, 'updatedAt'>[],
): Promise<Record<Feature, FeatureProblem>> {
  const keys =
    rows ??
    (await manager
      .getRepository(ServiceAccountCredential)
      .find({ where: { brokerageId }, select: { id: true, updatedAt: true } }));
  let state: { message: string; remedy: string; since: Date | null };
  if (keys.length > 0) {
    const since = new Date(Math.max(...keys.map((k) => k.updatedAt.getTime())));
    state = {
      message: `The brokerage's Google service-account key was removed (${since.toISOString()}); nothing reaches Google until a new key is verified`,
      remedy: `A brokerage admin submits a service-account key with submitServiceAccountKey. ${seeGuide('submit')}`,
      since,
    };
  } else {
    const brokerage = await manager
      .getRepository(Brokerage)
      .findOne({ where: { id: brokerageId }, select: { id: true, createdAt: true } });
    state = {
      message: 'This brokerage has not submitted a Google service-account key, so nothing reaches Google',
      remedy: `A brokerage admin creates a service account with domain-wide delegation, as the integration guide describes, and submits its JSON key with submitServiceAccountKey. ${seeGuide('project')}`,
      since: brokerage?.createdAt ?? null,
    };
  }
  const problem = (feature: Feature): FeatureProblem => ({
    code: ErrorCode.GOOGLE_NOT_CONFIGURED,
    message: state.message,
    remedy: `${state.remedy} ${MEANWHILE[feature]}`,
    since: state.since,
    definite: true,
  });
  return { contacts: problem('contacts'), calendar: problem('calendar'), mail: problem('mail') };
}

/**
 * Null when a key in use serves the feature (as far as its latest verification knows). `rows`: keyRows(), when read
 * already.
 */
export async function credentialProblem(
  manager: EntityManager,
  brokerageId: string,
  feature: Feature,
  rows?: KeyRow[],
): Promise<FeatureProblem | null> {
  const keys = rows ?? (await keyRows(manager, brokerageId));
  const inUse = keys.find((r) => r.status !== 'RETIRED');
  if (!inUse) return (await noKeyProblems(manager, brokerageId, keys))[feature];
  const granted = inUse.grantedScopes ? new Set(JSON.parse(inUse.grantedScopes) as string[]) : null;
  const acceptable = FEATURE_SCOPES[feature];
  if (granted && !acceptable.some((s) => granted.has(s))) {
    // GoogleSession.accessToken refuses this feature's calls without asking Google.
    return {
      code: ErrorCode.GOOGLE_NOT_CONFIGURED,
      message: `The brokerage has not authorized the scope ${acceptable.join(' or ')} needed for ${feature}`,
      remedy: `Authorize ${acceptable[0]} for the service account's client id in Admin console › Security › API controls › Domain-wide delegation, then a brokerage admin runs verifyServiceAccount. ${seeGuide('delegation')}`,
      since: inUse.verifiedAt ?? inUse.updatedAt,
      definite: true,
    };
  }
  if (inUse.status === 'CANNOT_BE_VERIFIED') {
    const failed = parseChecks(inUse.lastChecks).find(
      (c) => !c.ok && c.code !== null && SETUP_CHECK_CODES.has(c.code) && FEATURE_CHECKS[feature].includes(c.name),
    );
    if (failed) {
      return {
        code: ErrorCode.GOOGLE_NOT_CONFIGURED,
        message: `The brokerage's Google service-account key failed its latest verification (${inUse.updatedAt.toISOString()}): ${failed.message}`,
        remedy: `${failed.remedy ? `${failed.remedy} ` : ''}Then a brokerage admin runs verifyServiceAccount.`,
        since: inUse.updatedAt,
        definite: false,
      };
    }
  }
  return null;
}

function parseChecks(
  json: string | null,
): { name: string; ok: boolean; code: string | null; message: string; remedy: string | null }[] {
  if (!json) return [];
  try {
    const v = JSON.parse(json);
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

/** A failed sync's error as its record keeps it (lastError, lastErrorCode, lastErrorRemedy). */
export function syncErrorColumns(err: AppError): {
  lastError: string;
  lastErrorCode: string;
  lastErrorRemedy: string | null;
} {
  const remedy = err.extensions.remedy;
  return {
    lastError: err.message.slice(0, 2000),
    lastErrorCode: String(err.extensions.code ?? ErrorCode.INTERNAL_SERVER_ERROR),
    lastErrorRemedy: typeof remedy === 'string' ? remedy.slice(0, 2000) : null,
  };
}

export const NO_SYNC_ERROR = { lastError: null, lastErrorCode: null, lastErrorRemedy: null } as const;

/**
 * What a feature's status shows: the brokerage's key state first, else the last sync's error (stale since then). A
 * failed verification stops counting once a sync of the feature succeeded after it (the setup was fixed since).
 */
export function statusError(
  keyProblem: FeatureProblem | null,
  rec: {
    lastSyncAt: Date | null;
    lastError: string | null;
    lastErrorCode: string | null;
    lastErrorRemedy: string | null;
    staleSince: Date | null;
  },
): FeatureProblem | null {
  const stillTrue =
    keyProblem && (keyProblem.definite || !rec.lastSyncAt || !keyProblem.since || rec.lastSyncAt < keyProblem.since);
  if (keyProblem && stillTrue) return keyProblem;
  if (!rec.lastError) return null;
  return {
    code: (rec.lastErrorCode as ErrorCode | null) ?? ErrorCode.UPSTREAM_UNAVAILABLE,
    message: rec.lastError,
    remedy: rec.lastErrorRemedy,
    since: rec.staleSince,
    definite: false,
  };
}
