/**
 * Structured logs (pino). Secrets are redacted by path as a second line of
 * defence; the first is that code never logs key material or tokens at all.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  '*.authorization',
  'private_key',
  '*.private_key',
  'privateKey',
  '*.privateKey',
  'keyJson',
  '*.keyJson',
  'access_token',
  '*.access_token',
  'accessToken',
  '*.accessToken',
  'password',
  '*.password',
];

/**
 * Errors are logged as name, message, code, status and stack only. A Google client error carries the request it
 * made (`config.data`: an event's description and attendees, a MIME message) and the answer; a database error
 * carries its SQL parameters (a mail's content, recipients): none of that belongs in a log.
 */
export function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const e = err as Error & { code?: unknown; status?: unknown; response?: { status?: unknown }; cause?: unknown };
  const out: Record<string, unknown> = { type: e.name, message: e.message.slice(0, 2000) };
  if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
  const status = typeof e.status === 'number' ? e.status : typeof e.response?.status === 'number' ? e.response.status : undefined;
  if (status !== undefined) out.status = status;
  if (e.stack) out.stack = e.stack;
  if (e.cause instanceof Error) out.cause = serializeError(e.cause);
  return out;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'engage-gateway' }, serializers: { err: serializeError } }, destination);
}
