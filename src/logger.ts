/**
 * Structured logs (pino). Secrets are redacted by path as a second line of
 * defence; the first is that code never logs key material or tokens at all.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

const REDACTED_PATHS = [
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
 *
 * Nor does the data some messages quote. gaxios makes Google's error text the message, and Google quotes what it
 * could not take ("Base64 decoding failed for \"<the MIME text>\""): for an error with a Google answer we log the
 * HTTP status and Google's status and reasons (enumerations), not its text. MariaDB puts the duplicated value in
 * the message ("Duplicate entry '<value>' for key '<index>'"): database messages keep their words and identifiers,
 * quoted values become '…'. The stack's first line repeats the message, so it is rebuilt from the safe one.
 */
function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const e = err as Error & {
    code?: unknown;
    status?: unknown;
    response?: { status?: unknown; data?: unknown };
    cause?: unknown;
  };
  const type =
    e.name === 'Error' && e.constructor?.name && e.constructor.name !== 'Error' ? e.constructor.name : e.name;
  const message = googleAnswer(e) ?? (isDatabaseError(e) ? scrubDatabaseMessage(e.message) : e.message);
  const out: Record<string, unknown> = { type, message: message.slice(0, 2000) };
  if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
  const status =
    typeof e.status === 'number' ? e.status : typeof e.response?.status === 'number' ? e.response.status : undefined;
  if (status !== undefined) out.status = status;
  if (e.stack)
    out.stack =
      message === e.message
        ? e.stack
        : [`${type}: ${message.slice(0, 2000)}`, ...e.stack.split('\n').filter((l) => /^\s+at /.test(l))].join('\n');
  if (e.cause instanceof Error) out.cause = serializeError(e.cause);
  return out;
}

const WORD = /^[A-Za-z][A-Za-z0-9_.]{0,63}$/;
const word = (v: unknown): string | undefined => (typeof v === 'string' && WORD.test(v) ? v : undefined);

/**
 * "Google answered 400 INVALID_ARGUMENT (badRequest)" for an error that carries a Google (or token endpoint) answer.
 */
function googleAnswer(e: { response?: { status?: unknown; data?: unknown } }): string | undefined {
  const res = e.response;
  if (!res || typeof res !== 'object' || typeof res.status !== 'number') return undefined;
  const error = (res.data as { error?: unknown } | undefined)?.error;
  const body =
    error && typeof error === 'object'
      ? (error as { status?: unknown; errors?: unknown; details?: unknown })
      : undefined;
  const list = (v: unknown): { reason?: unknown }[] => (Array.isArray(v) ? (v as { reason?: unknown }[]) : []);
  // The token endpoint answers {error: "invalid_grant", error_description: "…"}: the code is safe, the description is
  // not ours to judge.
  const status = body ? word(body.status) : word(error);
  const reasons = [
    ...new Set(
      [...list(body?.errors), ...list(body?.details)]
        .map((x) => word(x?.reason))
        .filter((r): r is string => Boolean(r)),
    ),
  ];
  return `Google answered ${res.status}${status ? ` ${status}` : ''}${reasons.length ? ` (${reasons.join(', ')})` : ''}`;
}

function isDatabaseError(e: Error & { code?: unknown }): boolean {
  const x = e as Error & { sqlState?: unknown; sqlMessage?: unknown; code?: unknown };
  return (
    e.name === 'QueryFailedError' ||
    typeof x.sqlState === 'string' ||
    typeof x.sqlMessage === 'string' ||
    (typeof x.code === 'string' && /^(ER_|SQLITE_)/.test(x.code))
  );
}

/**
 * A database message without the values it quotes. MariaDB quotes values in single quotes and identifiers in
 * backticks, except a few messages that single-quote one identifier ("for key 'uq_agent_email'", "for column
 * 'notes'"): those are kept. A value may itself contain quotes, so everything from the first quote to the last
 * (or, for a duplicate entry, up to " for key '") is one value.
 */
export function scrubDatabaseMessage(m: string): string {
  const dup = m.indexOf("Duplicate entry '");
  if (dup >= 0) {
    const start = dup + "Duplicate entry '".length;
    const key = m.lastIndexOf("' for key '");
    return key >= start ? `${m.slice(0, start)}…${m.slice(key)}` : `${m.slice(0, start)}…'`;
  }
  // An apostrophe inside a word ("doesn't", "O'Brien") delimits nothing.
  const quotes = [...m.matchAll(/'/g)]
    .map((x) => x.index!)
    .filter((i) => !(/[A-Za-z]/.test(m[i - 1] ?? '') && /[A-Za-z]/.test(m[i + 1] ?? '')));
  if (quotes.length === 0) return m;
  const [first, second] = quotes;
  const before = m.slice(0, first);
  // A quoted identifier after "key", "table", "field"… (a qualified one too) is kept; the rest is scrubbed on.
  if (
    second !== undefined &&
    /^[A-Za-z0-9_$]{1,64}(?:\.[A-Za-z0-9_$]{1,64})?$/.test(m.slice(first + 1, second)) &&
    /(?:^|\s)(?:key|column|field|table|index|constraint|database)\s$/i.test(before.slice(-12))
  ) {
    return m.slice(0, second + 1) + scrubDatabaseMessage(m.slice(second + 1));
  }
  const last = quotes[quotes.length - 1];
  return `${before}'…'${last > first ? m.slice(last + 1) : ''}`;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { service: 'engage-gateway' },
      serializers: { err: serializeError },
    },
    destination,
  );
}
