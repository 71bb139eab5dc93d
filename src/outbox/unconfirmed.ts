/**
 * Field values of ours that may already be in Google although Google's answer never reached us: a write sent again
 * after a lost answer (the connection dropped, the process died, our database could not record it), with a newer
 * change of ours merged in meanwhile. When the retry finds the item changed since the version it was based on, a
 * field holding one of these values was changed by our own earlier write, not by someone in Google: no conflict.
 *
 * Kept per row as JSON `{ field: [values…] }` (test/calendar/lost-answers.test.ts, test/contacts/lost-answers.test.ts);
 * recorded when a change is made on top of one not yet confirmed, cleared once Google has confirmed the row (not when
 * it refuses a later write: an earlier one may still be there). Whether that earlier change was sent is not known (a
 * process killed while sending leaves no trace of it), so
 * its values count as ours even when it never went: someone in Google setting exactly such a value is then not seen
 * as a conflict, and our newer value stays. A narrow case, accepted for not flagging every retry of ours.
 */

/** Per field, the newest values kept: one per change made before the previous one was confirmed. */
const MAX_UNCONFIRMED_PER_FIELD = 5;

export type Unconfirmed = Record<string, unknown[]>;

export function parseUnconfirmed(json: string | null | undefined): Unconfirmed {
  if (!json) return {};
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Unconfirmed) : {};
  } catch {
    return {};
  }
}

/** `json` with `values` (field → value) added, each field's list without repeats and bounded (oldest dropped). */
function withUnconfirmed(json: string | null | undefined, values: Record<string, unknown>): string | null {
  const out = parseUnconfirmed(json);
  for (const [field, value] of Object.entries(values)) {
    const list = (out[field] ?? []).filter((v) => JSON.stringify(v) !== JSON.stringify(value ?? null));
    list.push(value ?? null);
    out[field] = list.slice(-MAX_UNCONFIRMED_PER_FIELD);
  }
  return Object.keys(out).length ? JSON.stringify(out) : null;
}

/**
 * `json` with the values of `before` that `after` replaces: each of `keys` that `before` has and `after` changes.
 * Unchanged when there are none.
 */
export function withReplaced(
  json: string | null | undefined,
  before: object,
  after: object,
  keys: readonly string[],
): string | null {
  const b = before as Record<string, unknown>;
  const a = after as Record<string, unknown>;
  const replaced = Object.fromEntries(
    keys.filter((k) => k in b && JSON.stringify(b[k]) !== JSON.stringify(a[k])).map((k) => [k, b[k]]),
  );
  return Object.keys(replaced).length ? withUnconfirmed(json, replaced) : (json ?? null);
}
