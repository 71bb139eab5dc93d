/**
 * Idempotency keys of the creating mutations (createContact, createContacts, createEvent), with sendMail's contract:
 *
 * - The same key answers what the first request created, and never creates twice. The key's row is written in the
 *   transaction that creates, first, so two first sends at once meet on its primary key: the second waits for the
 *   first to commit, fails, and answers with what the first made (`isUniqueViolation`).
 * - The same key with another request is CONFLICT (a hash of the request is kept, not the request).
 * - Keys are per agent and compared exactly: the row is keyed by a SHA-256 of the key, never by the key's text under
 *   a case-insensitive collation.
 * - A key is one request: reusing it for another operation is a CONFLICT too.
 * - Kept IDEMPOTENCY_KEY_DAYS; each agent's expired keys are deleted after it creates with a new one (100 at a time).
 *
 * Stripe keeps keys 24 hours; a phone may stay offline for days and replay its queue, so ours live longer.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { In, LessThan } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import { isUniqueViolation } from '../db/unique-violation';
import { IdempotencyKey } from '../entities';
import { AppError, badInput, ErrorCode } from '../errors';

const IDEMPOTENCY_KEY_DAYS = 30;
const KEPT_MS = IDEMPOTENCY_KEY_DAYS * 86_400_000;

/** The schema's description of the argument. */
export const IDEMPOTENCY_KEY_DOC =
  'Any unique string of 1 to 128 printable ASCII characters (a UUID): a retry with the same key answers the first result and creates nothing; the same key with another input is CONFLICT. Kept 30 days, per agent.';

export type KeyedOperation = 'createContact' | 'createContacts' | 'createEvent';

/** A caller's key as given, checked: 1 to 128 printable ASCII characters without spaces. Null when none was given. */
function checkIdempotencyKey(key: string | null | undefined, field = 'idempotencyKey'): string | null {
  if (key === null || key === undefined) return null;
  if (key.length < 1 || key.length > 128 || /[^\x21-\x7e]/.test(key)) {
    throw badInput(`${field} must be 1 to 128 printable ASCII characters without spaces (a UUID is a good choice)`, {
      field,
    });
  }
  return key;
}

const keyHash = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

/**
 * SHA-256 of a request's input, the same for the same input however its object keys are ordered; absent and null
 * are one (an input field left out and one set to null create the same thing).
 */
function requestHash(operation: KeyedOperation, input: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v instanceof Date) return v.toISOString();
    if (v && typeof v === 'object') {
      if ('toISOString' in v && typeof v.toISOString === 'function' && 'raw' in v) return (v as { raw: string }).raw; // DateTimeValue: as written
      return Object.fromEntries(
        Object.entries(v)
          .filter(([, x]) => x !== null && x !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([k, x]) => [k, canonical(x)]),
      );
    }
    return v;
  };
  return createHash('sha256')
    .update(JSON.stringify([operation, canonical(input)]))
    .digest('hex');
}

export interface Keyed {
  key: string;
  operation: KeyedOperation;
  hash: string;
}

export function keyed(operation: KeyedOperation, key: string | null | undefined, input: unknown): Keyed | null {
  const k = checkIdempotencyKey(key);
  return k === null ? null : { key: k, operation, hash: requestHash(operation, input) };
}

/**
 * What the key's first request created (its ids), or null if the key is new; CONFLICT if it was for another request.
 * A key past its keeping time is forgotten here (by its primary key, outside any transaction), and is new again.
 */
async function replayed(scope: TenantScope, k: Keyed): Promise<string[] | null> {
  const prior = await scope.findOneForAgent(IdempotencyKey, { keyHash: keyHash(k.key) });
  if (!prior) return null;
  if (prior.createdAt.getTime() < Date.now() - KEPT_MS) {
    await scope.deleteForAgent(IdempotencyKey, { keyHash: prior.keyHash, createdAt: prior.createdAt });
    return null;
  }
  if (prior.operation !== k.operation || prior.requestHash !== k.hash) {
    throw new AppError(
      ErrorCode.CONFLICT,
      `The idempotency key "${k.key}" was already used for a different request (${prior.operation}); use a new key for a new ${k.operation === 'createEvent' ? 'event' : 'contact'}`,
      { field: 'idempotencyKey' },
    );
  }
  return JSON.parse(prior.result) as string[];
}

/**
 * Records the key in the creating transaction, before anything else is written in it: a second send of the same
 * key under way at the same time waits on it here and fails at commit, instead of creating a copy. Only an insert:
 * a range delete of expired keys here took gap locks in the (agentId, createdAt) index, and concurrent creates each
 * inserting into the other's gap deadlocked on MariaDB (7 of 12 concurrent createEvent); see forgetExpiredKeys.
 */
export async function remember(
  m: EntityManager,
  scope: TenantScope,
  k: Keyed,
  ids: string[],
  now = new Date(),
): Promise<void> {
  await m.getRepository(IdempotencyKey).insert({
    agentId: scope.agentId,
    brokerageId: scope.brokerageId,
    keyHash: keyHash(k.key),
    operation: k.operation,
    requestHash: k.hash,
    result: JSON.stringify(ids),
    createdAt: now,
  });
}

/** Expired keys forgotten per call (the next keyed create of the agent takes the next ones). */
const FORGET_BATCH = 100;

/**
 * Forgets the agent's keys past their keeping time, after a keyed create has committed: found by a plain read, then
 * deleted by primary key, so the delete locks only rows no creating transaction touches (no gap locks: see remember).
 */
async function forgetExpiredKeys(scope: TenantScope, now = new Date()): Promise<void> {
  const cutoff = new Date(now.getTime() - KEPT_MS);
  const old = await scope.findManyForAgent(IdempotencyKey, { createdAt: LessThan(cutoff) }, { take: FORGET_BATCH });
  // The age again in the delete: a key found expired may have been used anew since (replayed() forgot it and a create
  // stored it again), and deleting that one would let a retry of it create twice.
  if (old.length)
    await scope.deleteForAgent(IdempotencyKey, { keyHash: In(old.map((k) => k.keyHash)), createdAt: LessThan(cutoff) });
}

/**
 * A creation under an idempotency key (none: just `create`). A key seen before answers `replay` of what its first
 * request created; otherwise `create` runs, its transaction recording the key with `remember` first, so that a second
 * send of the key at the same time fails on the key's row and answers `replay` of the first's. Afterwards the agent's
 * expired keys are forgotten (housekeeping: it never fails the create).
 */
export async function createOnce<T>(
  scope: TenantScope,
  key: Keyed | null,
  create: () => Promise<T>,
  replay: (ids: string[]) => Promise<T>,
): Promise<T> {
  if (!key) return create();
  const prior = await replayed(scope, key);
  if (prior) return replay(prior);
  let made: T;
  try {
    made = await create();
  } catch (err) {
    const again = isUniqueViolation(err) ? await replayed(scope, key) : null;
    if (again) return replay(again);
    throw err;
  }
  await forgetExpiredKeys(scope).catch(() => undefined);
  return made;
}

/** The answer to a retry whose first request's creation is gone since (deleted): said, never created again. */
export function createdThenDeleted(k: Keyed, what: string): AppError {
  return new AppError(
    ErrorCode.NOT_FOUND,
    `The ${what} the idempotency key "${k.key}" created was deleted since; use a new key to create it again`,
    { field: 'idempotencyKey' },
  );
}
