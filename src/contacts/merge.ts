/**
 * Three-way merge of a contact edited on both sides since the last sync:
 * base = the person as Google last sent it, ours = the CRM's mirror,
 * theirs = Google's current person. A field changed on one side only keeps
 * that side; a field changed on both sides to different values goes to the
 * last writer (CRM update time vs Google's source updateTime) and is recorded.
 * `unconfirmed`: values of earlier changes of ours that may be in Google unanswered (src/outbox/unconfirmed.ts).
 */
import type { Unconfirmed } from '../outbox/unconfirmed';
import { FIELD_NAMES, sameFieldValue, type ContactFields, type FieldName } from './person.mapper';

export interface FieldConflict {
  field: FieldName;
  ours: unknown;
  theirs: unknown;
  winner: 'crm' | 'google';
  at: string;
}

export function mergeContact(
  base: ContactFields,
  ours: ContactFields,
  theirs: ContactFields,
  oursAt: Date,
  theirsAt: Date | null,
  now = new Date(),
  unconfirmed: Unconfirmed = {},
): { merged: ContactFields; conflicts: FieldConflict[] } {
  const merged = { ...ours };
  const conflicts: FieldConflict[] = [];
  for (const field of FIELD_NAMES) {
    const oursChanged = !sameFieldValue(field, base, ours);
    // Google holding a value an earlier write of ours may have put there unanswered: our change, not theirs.
    const theirsChanged = !holdsUnconfirmed(field, theirs, unconfirmed) && !sameFieldValue(field, base, theirs);
    if (!theirsChanged) continue; // ours (changed or not) stays
    if (!oursChanged || sameFieldValue(field, ours, theirs)) {
      (merged as Record<FieldName, unknown>)[field] = theirs[field];
      continue;
    }
    // Changed on both sides to different values: the later writer wins.
    const googleWins = theirsAt !== null && theirsAt.getTime() > oursAt.getTime();
    if (googleWins) (merged as Record<FieldName, unknown>)[field] = theirs[field];
    conflicts.push({
      field,
      ours: ours[field],
      theirs: theirs[field],
      winner: googleWins ? 'google' : 'crm',
      at: now.toISOString(),
    });
  }
  return { merged, conflicts };
}

/** Whether every field Google changed since `base` holds our value, or one of our unconfirmed ones. */
export function onlyOurChanges(
  base: ContactFields,
  ours: ContactFields,
  theirs: ContactFields,
  unconfirmed: Unconfirmed,
): boolean {
  return FIELD_NAMES.every(
    (field) =>
      sameFieldValue(field, base, theirs) ||
      sameFieldValue(field, ours, theirs) ||
      holdsUnconfirmed(field, theirs, unconfirmed),
  );
}

/** Whether Google's `field` is one of the values an earlier write of ours may have put there unanswered. */
function holdsUnconfirmed(field: FieldName, theirs: ContactFields, unconfirmed: Unconfirmed): boolean {
  return (unconfirmed[field] ?? []).some((v) =>
    sameFieldValue(field, { [field]: v } as unknown as ContactFields, theirs),
  );
}
