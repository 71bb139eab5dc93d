/**
 * Per-request DataLoaders over the caller's own contacts (scoped by agent and
 * brokerage): one SQL query per loader per tick, results in key order.
 * byEmail serves calendar attendees and mail recipients.
 */
import DataLoader from 'dataloader';
import { In, IsNull } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import { Contact, ContactEmail, ContactLabel, ContactLabelMember } from '../entities';
import { byLabelOrder } from './contact-label.mirror';
import { readRows } from '../db/read-rows';
import { fixedSql, rawRows } from '../db/statements';

/**
 * The columns a client's view of a contact is made of (toContactType and the cursor): a page leaves out the Person as
 * Google last sent it (the merge base, ~1 KB a contact), the search text and the sync bookkeeping.
 */
export const CONTACT_VIEW_COLUMNS = [
  'id',
  'agentId',
  'brokerageId',
  'resourceName',
  'version',
  'givenName',
  'familyName',
  'organization',
  'jobTitle',
  'notes',
  'emails',
  'phones',
  'details',
  'sortKey',
  'syncState',
  'syncError',
  'conflicts',
  'updatedAt',
] as const satisfies readonly (keyof Contact)[];

/** What a client's view of a contact is made of. */
export type ContactView = Pick<Contact, (typeof CONTACT_VIEW_COLUMNS)[number]>;

/** Keys per SQL query; well under every dialect's bound-parameter limit. */
const LOADER_BATCH = 500;

export interface ContactLoaders {
  byId: DataLoader<string, Contact | null>;
  /** The contacts owning each address, as a client's view reads them (no Person, no bookkeeping). */
  byEmail: DataLoader<string, ContactView[]>;
  byResourceName: DataLoader<string, Contact | null>;
  /** The labels each contact shows (an addition on its way included, a removal on its way not). */
  labels: DataLoader<string, LabelView[]>;
}

/** `fresh`: makes the mirror fresh first (at most one sync call per request; see ContactSync.ensureFresh). */
export function contactLoaders(
  scope: TenantScope,
  fresh: () => Promise<void> = async () => {},
  labelsFresh: () => Promise<void> = fresh,
): ContactLoaders {
  const live = { deletedAt: IsNull() };
  return {
    byId: new DataLoader(
      async (ids) => {
        await fresh();
        const rows = await scope.findForAgent(Contact, { ...live, id: In([...ids]) });
        const m = new Map(rows.map((r) => [r.id, r]));
        return ids.map((id) => m.get(id) ?? null);
      },
      { maxBatchSize: LOADER_BATCH },
    ),
    byResourceName: new DataLoader(
      async (names) => {
        await fresh();
        const rows = await scope.findForAgent(Contact, { ...live, resourceName: In([...names]) });
        const m = new Map(rows.map((r) => [r.resourceName!, r]));
        return names.map((n) => m.get(n) ?? null);
      },
      { maxBatchSize: LOADER_BATCH },
    ),
    labels: new DataLoader(
      async (contactIds) => {
        await labelsFresh();
        const m = await labelsOf(scope, contactIds);
        return contactIds.map((id) => m.get(id) ?? []);
      },
      { maxBatchSize: LOADER_BATCH },
    ),
    byEmail: new DataLoader(
      async (emails) => {
        await fresh();
        const wanted = [...new Set(emails.map((e) => e.toLowerCase()))];
        // One query: the contacts owning any wanted address (via the contact_email index; the subquery reuses
        // agentQuery's :agentId and :brokerageId), then matched in memory.
        const query = scope
          .agentQuery(Contact, 'c')
          .andWhere('c.deletedAt IS NULL')
          .andWhere(
            (qb) =>
              `c.id IN ${fixedSql(qb.connection, 'contact ids by email', () => qb.subQuery().select('e.contactId').from(ContactEmail, 'e').where('e.agentId = :agentId AND e.brokerageId = :brokerageId AND e.email IN (:...wanted)').getQuery())}`,
            { wanted },
          )
          .orderBy('c.sortKey', 'ASC');
        const rows = await readRows(query, 'c', CONTACT_VIEW_COLUMNS);
        const m = new Map<string, ContactView[]>();
        for (const c of rows) {
          for (const e of new Set((JSON.parse(c.emails) as { value: string }[]).map((x) => x.value.toLowerCase()))) {
            // Appended in place: copying the list per contact was quadratic (40,000 contacts sharing an address: 27 s).
            const list = m.get(e);
            if (list) list.push(c);
            else m.set(e, [c]);
          }
        }
        return emails.map((e) => m.get(e.toLowerCase()) ?? []);
      },
      { maxBatchSize: LOADER_BATCH },
    ),
  };
}

/** What a contact's labels show of each label. */
export type LabelView = Pick<ContactLabel, 'id' | 'name' | 'kind' | 'resourceName' | 'syncState' | 'syncError'>;

/**
 * The labels each of `contactIds` shows (an addition on its way included, a removal on its way not), in label order;
 * one statement, its rows read as they are (no entity hydration). At most LOADER_BATCH ids.
 */
export async function labelsOf(scope: TenantScope, contactIds: readonly string[]): Promise<Map<string, LabelView[]>> {
  const m = new Map<string, LabelView[]>();
  if (contactIds.length === 0) return m;
  const rows = await rawRows<LabelView & { contactId: string }>(
    scope
      .agentQuery(ContactLabelMember, 'r')
      .innerJoin(ContactLabel, 'l', 'l.id = r.labelId AND l.brokerageId = r.brokerageId AND l.deletedAt IS NULL')
      .select('r.contactId', 'contactId')
      .addSelect('l.id', 'id')
      .addSelect('l.name', 'name')
      .addSelect('l.kind', 'kind')
      .addSelect('l.resourceName', 'resourceName')
      .addSelect('l.syncState', 'syncState')
      .addSelect('l.syncError', 'syncError')
      .andWhere('r.contactId IN (:...ids)', { ids: [...contactIds] })
      .andWhere("(r.pending IS NULL OR r.pending = 'add')"),
  );
  for (const { contactId, ...label } of rows) {
    const list = m.get(contactId);
    if (list) list.push(label);
    else m.set(contactId, [label]);
  }
  for (const list of m.values()) list.sort(byLabelOrder);
  return m;
}

/** Contacts shown in each label (live contacts; a removal on its way is not shown, an addition is). */
export async function memberCounts(scope: TenantScope, labelIds: string[]): Promise<Map<string, number>> {
  if (labelIds.length === 0) return new Map();
  const rows = await rawRows<{ labelId: string; n: string | number }>(
    scope
      .agentQuery(ContactLabelMember, 'r')
      .innerJoin(Contact, 'c', 'c.id = r.contactId AND c.brokerageId = r.brokerageId AND c.deletedAt IS NULL')
      .select('r.labelId', 'labelId')
      .addSelect('COUNT(*)', 'n')
      .andWhere('r.labelId IN (:...labelIds)', { labelIds })
      .andWhere("(r.pending IS NULL OR r.pending = 'add')")
      .groupBy('r.labelId'),
  );
  return new Map(rows.map((r) => [r.labelId, Number(r.n)]));
}
