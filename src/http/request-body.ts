/**
 * What a request may cost before GraphQL sees it: who may send a body, and how
 * large (issue 12, item 2).
 *
 * 1. `requireBearer`: the bearer token is verified from the headers alone,
 *    before a byte of the body is read or inflated. Without a valid one the
 *    answer is 401 at once, and the connection is closed rather than drained.
 *    Measured before: 20 anonymous 40 KB gzip bodies were each inflated to
 *    40 MB and parsed, growing the process by 2.4 GB.
 * 2. `readBody`: a body is small (`MAX_BODY_BYTES`, 1 MiB), counted after
 *    inflation, so a compressed body is no way around it. Only a mail with
 *    attachments needs more: an uncompressed body that declares its length
 *    (every GraphQL client sends one) may be up to `MAX_MAIL_BODY_BYTES`, but
 *    only while one of a few large-body slots is free (`LargeBodyGate`), and
 *    GraphQL then accepts nothing but `sendMail` in it (`onlyMailIfLarge`).
 *    When no slot is free the answer is 429 RATE_LIMITED with
 *    `retryAfterSeconds` before the body is read: waiting callers would hold
 *    their bodies in memory, so there is no queue.
 */
import type { Request, RequestHandler, Response } from 'express';
import express from 'express';
import type { OperationDefinitionNode } from 'graphql';
import type { CallerClaims, CallerTokenVerifier } from '../auth/caller-token';
import { bearerToken } from '../auth/caller-token';
import { AppError, ErrorCode } from '../errors';
import { BadJsonError } from '../mail/mime-builder';
import { TenantBudget } from '../tenant-budget';

/** How long a caller refused a large-body slot is told to wait: a large mail is built and stored in a few seconds. */
export const LARGE_BODY_RETRY_AFTER_SECONDS = 5;

/**
 * At most `slots` large bodies at once per process, and at most `perTenant` of them for one brokerage, so one
 * brokerage sending many large mails cannot keep the others from sending any. Never waits: `tryAcquire` answers
 * at once with a release function, or null.
 */
export class LargeBodyGate extends TenantBudget {
  constructor(slots: number, perTenant = Math.max(1, Math.floor(slots / 2))) {
    super(slots, perTenant);
  }

  tryAcquire(tenant: string): (() => void) | null {
    const taken = this.take(tenant);
    return 'release' in taken ? taken.release : null;
  }

  /** Slots in use (for tests and metrics). */
  get busy(): number {
    return this.inUse;
  }
}

/** True when the request still has body bytes on the wire (they will not be read: the connection must close). */
function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** Answers a GraphQL-shaped error without reading the body; the connection closes after it. */
function refuse(
  req: Request,
  res: Response,
  status: number,
  message: string,
  extensions: Record<string, unknown>,
): void {
  if (hasBody(req)) res.setHeader('connection', 'close');
  res.status(status).json({ errors: [{ message, extensions: { ...extensions, requestId: res.locals.requestId } }] });
}

/** The verified claims of the request (set by requireBearer). */
export function claimsOf(res: Response): CallerClaims {
  return res.locals.claims as CallerClaims;
}

export function requireBearer(verifier: CallerTokenVerifier): RequestHandler {
  return async (req, res, next) => {
    try {
      const token = bearerToken(req.header('authorization'));
      if (token === undefined)
        throw new AppError(ErrorCode.UNAUTHENTICATED, 'Every request needs an "Authorization: Bearer <token>" header');
      res.locals.claims = await verifier.verify(token);
      next();
    } catch (err) {
      if (!(err instanceof AppError)) return next(err);
      // RFC 6750 §3: a 401 names the scheme; `invalid_token` only when a token was sent.
      res.setHeader(
        'www-authenticate',
        req.header('authorization')
          ? 'Bearer realm="engage-gateway", error="invalid_token"'
          : 'Bearer realm="engage-gateway"',
      );
      refuse(req, res, 401, err.message, { code: ErrorCode.UNAUTHENTICATED });
    }
  };
}

export interface BodyLimits {
  /** Any request (MAX_BODY_BYTES). */
  maxBodyBytes: number;
  /** A sendMail request holding a large-body slot (MAX_MAIL_BODY_BYTES). */
  maxMailBodyBytes: number;
  /** How long a large body may take to arrive once it holds a slot, ms (LARGE_BODY_TIMEOUT_SECONDS). */
  largeBodyTimeoutMs: number;
}

/**
 * Values (objects, arrays, their elements) a large body may hold. A mail is a few hundred (recipients, attachments);
 * 13 million empty arrays in a 39 MB body held the event loop 5.3 s in JSON.parse and took ~800 MB before any later
 * check could count them. They are counted in one linear pass before the body is parsed.
 */
const MAX_LARGE_BODY_VALUES = 20_000;

/** Parses a large body off the event loop (a MIME worker): its value, or BadJsonError. */
export type LargeBodyParser = (body: Buffer, maxValues: number, tenant: string) => Promise<unknown>;

/**
 * Reads the JSON body within the limits above; marks `res.locals.largeBody` when it took a slot. `knownTenant` says
 * whether the caller's domain is a registered brokerage: a large body is read only for one (the token alone is
 * checked from the headers; the domain is a database lookup, done here only when a slot is at stake). A large body is
 * counted and parsed by `parseLarge`, off the event loop: 28 MB of JSON held it ~0.3 s.
 */
export function readBody(
  limits: BodyLimits,
  gate: LargeBodyGate,
  knownTenant: (domain: string) => Promise<boolean>,
  parseLarge: LargeBodyParser,
): RequestHandler {
  const small = express.json({ limit: limits.maxBodyBytes });
  const large = express.raw({ type: ['application/json', 'application/*+json'], limit: limits.maxMailBodyBytes });
  const parsed =
    (domain: string): RequestHandler =>
    async (req, res, next) => {
      if (!Buffer.isBuffer(req.body)) return next();
      try {
        req.body = await parseLarge(req.body, MAX_LARGE_BODY_VALUES, domain);
      } catch (err) {
        if (!(err instanceof BadJsonError)) return next(err);
        const message =
          err.reason === 'malformed'
            ? 'Malformed JSON in request body'
            : `The request holds more than ${MAX_LARGE_BODY_VALUES} values; a mail needs a few hundred`;
        res.status(400).json({
          errors: [
            {
              message,
              extensions: {
                code: ErrorCode.BAD_USER_INPUT,
                ...(err.reason === 'malformed' ? {} : { reason: 'too_many_items' }),
              },
            },
          ],
        });
        return;
      }
      next();
    };
  return async (req, res, next) => {
    const declared = Number(req.headers['content-length']);
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (!(encoding === 'identity' && Number.isFinite(declared) && declared > limits.maxBodyBytes))
      return small(req, res, next);
    if (declared > limits.maxMailBodyBytes) {
      return refuse(
        req,
        res,
        413,
        `Request body is larger than ${limits.maxMailBodyBytes} bytes (the most a mail may take)`,
        { code: ErrorCode.BAD_USER_INPUT, reason: 'too_large' },
      );
    }
    const claims = claimsOf(res);
    const domain = claims.email.slice(claims.email.lastIndexOf('@') + 1);
    try {
      if (!(await knownTenant(domain))) {
        res.setHeader('www-authenticate', 'Bearer realm="engage-gateway", error="invalid_token"');
        return refuse(req, res, 401, `no brokerage is registered for the domain "${domain.slice(0, 80)}"`, {
          code: ErrorCode.UNAUTHENTICATED,
        });
      }
    } catch (err) {
      return next(err);
    }
    const release = gate.tryAcquire(domain);
    if (!release) {
      res.setHeader('retry-after', String(LARGE_BODY_RETRY_AFTER_SECONDS));
      return refuse(
        req,
        res,
        429,
        `Too many large requests (over ${limits.maxBodyBytes} bytes) are being received; send this one again in ${LARGE_BODY_RETRY_AFTER_SECONDS} s`,
        {
          code: ErrorCode.RATE_LIMITED,
          retryAfterSeconds: LARGE_BODY_RETRY_AFTER_SECONDS,
        },
      );
    }
    // Held until the answer is sent or the client goes away: the body stays in memory that long. A body that does not
    // arrive in time (a client gone quiet, or holding the slot on purpose) is cut off: its connection is destroyed,
    // which ends the response and frees the slot.
    const deadline = setTimeout(() => req.destroy(), limits.largeBodyTimeoutMs);
    deadline.unref();
    req.once('end', () => clearTimeout(deadline));
    res.once('close', () => {
      clearTimeout(deadline);
      release();
    });
    res.locals.largeBody = true;
    return large(req, res, (err?: unknown) => (err ? next(err) : parsed(domain)(req, res, next)));
  };
}

/**
 * Throws 413 BAD_USER_INPUT unless the operation is a mutation of sendMail fields only: a body over MAX_BODY_BYTES
 * was let in for a mail and for nothing else.
 */
export function onlyMailIfLarge(operation: OperationDefinitionNode | null | undefined, maxBodyBytes: number): void {
  const mailOnly =
    operation?.operation === 'mutation' &&
    operation.selectionSet.selections.every(
      (s) => s.kind === 'Field' && (s.name.value === 'sendMail' || s.name.value === '__typename'),
    );
  if (!mailOnly) {
    throw new AppError(
      ErrorCode.BAD_USER_INPUT,
      `Request body is larger than ${maxBodyBytes} bytes; only sendMail may send more`,
      { reason: 'too_large', http: { status: 413 } },
    );
  }
}
