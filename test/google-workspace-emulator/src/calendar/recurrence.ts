/**
 * Recurrence: validation of an event's `recurrence` lines (RFC 5545 RRULE, EXRULE, RDATE, EXDATE — the Event
 * resource's `recurrence` field) and expansion into instances with the `rrule` library.
 *
 * Time zones: rrule's own TZID support is awkward (it returns Dates shifted by the host's zone), so the rule is
 * computed on "floating" Dates whose UTC fields are the wall clock of the event's `start.timeZone`, and each
 * occurrence is then placed in that zone with luxon. An event at 09:00 America/New_York therefore stays at 09:00
 * local across daylight-saving changes, as in Google Calendar.
 *
 * Google includes DTSTART as the first instance even when the rule would not produce it [obs
 * googleapis/google-api-nodejs-client#2214: a weekly TU,TH,SA series starting on a Monday shows that Monday too];
 * so does RFC 5545 §3.8.5.3, and so does this expansion.
 */
import { RRule, type Options as RRuleOptions } from 'rrule';
import { DateTime } from 'luxon';
import { calendarError } from './errors';
import { floatingDate, floatingToDate, fromFloating, isValidZone, toFloating, type When } from './time';

/** Safety cap on the instances one series yields for one request, so a malformed window cannot run away. */
export const MAX_INSTANCES_PER_SERIES_PER_REQUEST = 10_000;
/**
 * Safety cap on the occurrences one RRULE/EXRULE may generate for one request, counted from DTSTART — including the
 * ones before the requested window, which the in-window cap above never sees. A daily series starting 1970 viewed in
 * 2100 is ~47,000; a rule that generates more (say BYHOUR×BYMINUTE on a daily rule started decades ago) is cut off
 * there: the request stays fast and sees the instances generated up to the cap. Google publishes no such limit [?].
 */
export const MAX_RULE_ITERATIONS_PER_REQUEST = 100_000;

export interface ParsedRecurrence {
  rrules: Array<Partial<RRuleOptions>>;
  exrules: Array<Partial<RRuleOptions>>;
  rdates: Date[];
  exdates: Date[];
}

const INVALID_RULE = 'Invalid recurrence rule.';
/**
 * Google Calendar repeats events daily at most: its recurrence editor and the Event resource's examples offer DAILY,
 * WEEKLY, MONTHLY and YEARLY only, and RFC 5545's HOURLY/MINUTELY/SECONDLY are refused with the same 400
 * "Invalid recurrence rule." as any other malformed rule [obs issue 3 review]. They would also expand into
 * thousands of instances a day.
 */
const FREQS: Record<string, number> = {
  YEARLY: RRule.YEARLY,
  MONTHLY: RRule.MONTHLY,
  WEEKLY: RRule.WEEKLY,
  DAILY: RRule.DAILY,
};
const WEEKDAY = '(MO|TU|WE|TH|FR|SA|SU)';
const intList = (min: number, max: number, signed: boolean) => (v: string) =>
  v.split(',').every((p) => {
    if (!/^[+-]?\d{1,3}$/.test(p)) return false;
    const n = Number(p);
    if (!signed && /^[+-]/.test(p)) return false;
    return Math.abs(n) >= min && Math.abs(n) <= max && (signed ? n !== 0 || min === 0 : true);
  });
/** RFC 5545 §3.3.10 value grammar per rule part. */
const PART_RULES: Record<string, (v: string) => boolean> = {
  FREQ: (v) => v in FREQS,
  UNTIL: (v) => /^\d{8}(T\d{6}Z?)?$/.test(v),
  COUNT: (v) => /^\d{1,6}$/.test(v) && Number(v) >= 1,
  INTERVAL: (v) => /^\d{1,6}$/.test(v) && Number(v) >= 1,
  BYSECOND: intList(0, 60, false),
  BYMINUTE: intList(0, 59, false),
  BYHOUR: intList(0, 23, false),
  BYDAY: (v) => v.split(',').every((p) => new RegExp(`^([+-]?([1-9]|[1-4]\\d|5[0-3]))?${WEEKDAY}$`).test(p)),
  BYMONTHDAY: intList(1, 31, true),
  BYYEARDAY: intList(1, 366, true),
  BYWEEKNO: intList(1, 53, true),
  BYMONTH: intList(1, 12, false),
  BYSETPOS: intList(1, 366, true),
  WKST: (v) => new RegExp(`^${WEEKDAY}$`).test(v),
};

/**
 * Validates `recurrence` for an event starting at `start` and returns it parsed. Every failure is Google's 400
 * "Invalid recurrence rule." (reason invalid) [obs derekantrican/GAS-ICS-Sync#466: `COUNT=-1` → exactly that].
 */
export function parseRecurrence(lines: unknown, start: When): ParsedRecurrence {
  if (!Array.isArray(lines) || lines.some((l) => typeof l !== 'string')) throw calendarError.invalid(INVALID_RULE);
  const zone = start.allDay ? 'UTC' : start.zone!;
  const out: ParsedRecurrence = { rrules: [], exrules: [], rdates: [], exdates: [] };
  for (const raw of lines as string[]) {
    const line = raw.trim();
    const colon = line.indexOf(':');
    if (colon < 0) throw calendarError.invalid(INVALID_RULE);
    const [rawName, ...params] = line.slice(0, colon).split(';');
    const name = rawName.toUpperCase();
    const value = line.slice(colon + 1);
    if (name === 'RRULE' || name === 'EXRULE') {
      if (params.length > 0) throw calendarError.invalid(INVALID_RULE);
      (name === 'RRULE' ? out.rrules : out.exrules).push(parseRule(value, start, zone));
    } else if (name === 'RDATE' || name === 'EXDATE') {
      (name === 'RDATE' ? out.rdates : out.exdates).push(...parseDateList(params, value, start, zone));
    } else {
      throw calendarError.invalid(INVALID_RULE);
    }
  }
  if (out.rrules.length === 0 && out.rdates.length === 0) throw calendarError.invalid(INVALID_RULE);
  return out;
}

function parseRule(value: string, start: When, zone: string): Partial<RRuleOptions> {
  const seen = new Set<string>();
  let until: string | undefined;
  for (const part of value.toUpperCase().split(';')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq);
    const v = part.slice(eq + 1);
    const check = PART_RULES[key];
    if (eq < 1 || !check || !check(v) || seen.has(key)) throw calendarError.invalid(INVALID_RULE);
    seen.add(key);
    if (key === 'UNTIL') until = v;
  }
  if (!seen.has('FREQ') || (seen.has('COUNT') && seen.has('UNTIL'))) throw calendarError.invalid(INVALID_RULE);
  let options: Partial<RRuleOptions>;
  try {
    options = RRule.parseString(value.toUpperCase());
  } catch {
    throw calendarError.invalid(INVALID_RULE);
  }
  if (until !== undefined) options.until = untilFloating(until, start, zone);
  return options;
}

/** UNTIL as a floating Date: a UTC instant is moved into the event's zone; a date means "through that day". */
function untilFloating(v: string, start: When, zone: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$/.exec(v)!;
  const [y, mo, d] = [+m[1], +m[2] - 1, +m[3]];
  if (m[4] === undefined) return new Date(Date.UTC(y, mo, d, 23, 59, 59));
  const fields = Date.UTC(y, mo, d, +m[4], +m[5], +m[6]);
  if (m[7] && !start.allDay) return toFloating(fields, zone);
  return new Date(fields);
}

/** RDATE/EXDATE values: `YYYYMMDD` (VALUE=DATE), `…THHMMSSZ` (UTC) or `…THHMMSS` (TZID=<zone>, else the event's). */
function parseDateList(params: string[], value: string, start: When, zone: string): Date[] {
  let tzid: string | undefined;
  for (const p of params) {
    const eq = p.indexOf('=');
    const k = p.slice(0, eq).toUpperCase();
    const v = p.slice(eq + 1);
    if (k === 'TZID' && isValidZone(v)) tzid = v;
    else if (k === 'VALUE' && (v.toUpperCase() === 'DATE' || v.toUpperCase() === 'DATE-TIME')) continue;
    else throw calendarError.invalid(INVALID_RULE);
  }
  return value.split(',').map((item) => {
    const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$/.exec(item.trim().toUpperCase());
    if (!m) throw calendarError.invalid(INVALID_RULE);
    const [y, mo, d] = [+m[1], +m[2], +m[3]];
    if (m[4] === undefined) return new Date(Date.UTC(y, mo - 1, d));
    const wall = { year: y, month: mo, day: d, hour: +m[4], minute: +m[5], second: +m[6] };
    if (start.allDay) return new Date(Date.UTC(y, mo - 1, d));
    const instant = m[7]
      ? Date.UTC(y, mo - 1, d, wall.hour, wall.minute, wall.second)
      : DateTime.fromObject(wall, { zone: tzid ?? zone }).toMillis();
    return toFloating(instant, zone);
  });
}

/**
 * The original start of every instance of the series whose start falls in [fromMs, toMs] (instants; all-day dates
 * at UTC midnight of their date — callers widen the window by a day and filter exactly themselves).
 */
export function occurrences(rec: ParsedRecurrence, start: When, fromMs: number, toMs: number): When[] {
  const zone = start.allDay ? 'UTC' : start.zone!;
  const dtstart = start.allDay ? floatingDate(start.date) : toFloating(start.ms, zone);
  const from = start.allDay ? new Date(fromMs) : toFloating(fromMs, zone);
  const to = start.allDay ? new Date(toMs) : toFloating(toMs, zone);
  if (to < from) return [];
  // RFC 5545 set semantics (what RRuleSet does): (RRULEs ∪ RDATEs ∪ DTSTART) − (EXRULEs ∪ EXDATEs), compared as
  // instants. Done here rather than with RRuleSet.between, whose callback sees only in-window dates, so that every
  // rule's iteration from DTSTART is bounded (expandRule).
  const hits = new Map<number, Date>();
  const inWindow = (d: Date) => d >= from && d <= to;
  for (const r of rec.rrules) for (const d of expandRule(r, dtstart, to)) if (inWindow(d)) hits.set(d.getTime(), d);
  for (const d of [dtstart, ...rec.rdates]) if (inWindow(d)) hits.set(d.getTime(), d);
  for (const r of rec.exrules) for (const d of expandRule(r, dtstart, to)) hits.delete(d.getTime());
  for (const d of rec.exdates) hits.delete(d.getTime());
  const found = [...hits.values()]
    .sort((a, b) => a.getTime() - b.getTime())
    .slice(0, MAX_INSTANCES_PER_SERIES_PER_REQUEST);
  return found.map((d): When =>
    start.allDay ? { allDay: true, date: floatingToDate(d) } : { allDay: false, ms: fromFloating(d, zone), zone },
  );
}

/**
 * The occurrences of one rule from DTSTART up to `to`, at most MAX_RULE_ITERATIONS_PER_REQUEST of them. UNTIL is
 * clamped to `to` so rrule's own loop ends at the window even when the rule yields nothing (BYMONTH=2;BYMONTHDAY=31);
 * the callback of `all()` sees every generated date, so it bounds the rest.
 */
function expandRule(options: Partial<RRuleOptions>, dtstart: Date, to: Date): Date[] {
  const until = options.until && options.until < to ? options.until : to;
  return new RRule({ ...options, dtstart, until }).all((_d, i) => i < MAX_RULE_ITERATIONS_PER_REQUEST);
}
