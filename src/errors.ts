/**
 * The public error codes (API contract, docs/architecture.md §4) and the one error
 * class that carries them. Every error a client sees has `extensions.code` set
 * to one of ErrorCode; anything else is masked as INTERNAL_SERVER_ERROR by
 * `formatError` in server.ts.
 */
import { GraphQLError, type GraphQLErrorExtensions } from 'graphql';

export enum ErrorCode {
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  NOT_FOUND = 'NOT_FOUND',
  CONFLICT = 'CONFLICT',
  RATE_LIMITED = 'RATE_LIMITED',
  GOOGLE_NOT_CONFIGURED = 'GOOGLE_NOT_CONFIGURED',
  UPSTREAM_UNAVAILABLE = 'UPSTREAM_UNAVAILABLE',
  /** Our own dependency (the database) is away: retry after extensions.retryAfterSeconds. HTTP 503. */
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}

const PUBLIC_CODES = new Set<string>(Object.values(ErrorCode));

export function isPublicCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && PUBLIC_CODES.has(code);
}

/** HTTP status for an error that fails the whole request (not a field). */
const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.SERVICE_UNAVAILABLE]: 503,
};

export class AppError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extensions: GraphQLErrorExtensions = {},
  ) {
    super(message, {
      extensions: {
        ...extensions,
        code,
        ...(HTTP_STATUS[code] ? { http: { status: HTTP_STATUS[code] } } : {}),
      },
    });
    this.name = 'AppError';
  }
}

export const unauthenticated = (message: string) => new AppError(ErrorCode.UNAUTHENTICATED, message);
export const forbidden = (message: string) => new AppError(ErrorCode.FORBIDDEN, message);
export const badInput = (message: string, extensions?: GraphQLErrorExtensions) =>
  new AppError(ErrorCode.BAD_USER_INPUT, message, extensions);
/** Caller input quoted in an error message is cut to this many characters (an id may be a megabyte). */
const QUOTE_CHARS = 80;
export const quote = (s: string, max = QUOTE_CHARS) => (s.length > max ? `${s.slice(0, max)}…` : s);
export const notFound = (what: string, id: string, extensions?: GraphQLErrorExtensions) =>
  new AppError(ErrorCode.NOT_FOUND, `${what} "${quote(id)}" was not found`, extensions);
