/**
 * The contract's `DateTime` scalar: ISO 8601 / RFC 3339 with an offset.
 * Parsed input keeps what the caller wrote (its date and wall-clock time)
 * besides the instant, because an all-day event's date must not shift across
 * time zones: "2026-12-24T23:00:00-08:00" is the 24th, although it is the
 * 25th in UTC. Output is always an ISO string in UTC.
 */
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

/** RFC 3339 date-time with a required offset (Z or ±hh:mm); fractional seconds allowed. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export class DateTimeValue {
  constructor(
    readonly instant: Date,
    /** The calendar date as written, YYYY-MM-DD. */
    readonly date: string,
    /** The value as written. */
    readonly raw: string,
  ) {}

  toISOString(): string {
    return this.instant.toISOString();
  }
}

export function parseDateTime(value: unknown): DateTimeValue {
  if (typeof value !== 'string')
    throw new GraphQLError(`DateTime must be a string like 2026-12-24T09:00:00-08:00 (got ${typeof value})`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  const m = RFC3339.exec(value);
  const instant = new Date(value);
  if (
    !m ||
    Number.isNaN(instant.getTime()) ||
    Number(m[2]) > 12 ||
    Number(m[3]) > 31 ||
    Number(m[4]) > 23 ||
    Number(m[5]) > 59 ||
    Number(m[6]) > 60
  ) {
    throw new GraphQLError(
      `DateTime must be ISO 8601 with an offset, like 2026-12-24T09:00:00-08:00 or 2026-12-24T17:00:00Z (got "${value.slice(0, 60)}")`,
      { extensions: { code: 'BAD_USER_INPUT' } },
    );
  }
  // new Date() rolls 2026-02-30 over to March; a real date must survive the round trip.
  const check = new Date(`${m[1]}-${m[2]}-${m[3]}T00:00:00Z`);
  if (check.getUTCDate() !== Number(m[3]))
    throw new GraphQLError(`DateTime has no such date: "${value.slice(0, 60)}"`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  return new DateTimeValue(instant, `${m[1]}-${m[2]}-${m[3]}`, value);
}

export const DateTimeScalar = new GraphQLScalarType<DateTimeValue | Date, string>({
  name: 'DateTime',
  description:
    'An ISO 8601 date-time with an offset, e.g. 2026-12-24T09:00:00-08:00. Output is in UTC. For all-day events the date part (as written) counts.',
  serialize(value) {
    if (value instanceof Date || value instanceof DateTimeValue) return value.toISOString();
    if (typeof value === 'string') return new Date(value).toISOString();
    throw new GraphQLError(`DateTime cannot represent ${typeof value}`);
  },
  parseValue: parseDateTime,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING)
      throw new GraphQLError('DateTime must be a string', { extensions: { code: 'BAD_USER_INPUT' } });
    return parseDateTime(ast.value);
  },
});
