/**
 * Labels (People contact groups) in the mirror: the label and membership rows, and the helpers the label sync
 * (contact-label.sync.ts), the contact sync and import, the label service and the outbox share.
 *
 * - The agent's own groups are labels (USER); of Google's system groups only myContacts and starred still mean
 *   something ("the only system contact groups that can have members added are contactGroups/myContacts and
 *   contactGroups/starred. Other system contact groups are deprecated",
 *   https://developers.google.com/people/api/rest/v1/contactGroups.members/modify): they are labels too (SYSTEM),
 *   read-only here; the deprecated ones are left out.
 * - A membership changed here and not yet in Google (`pending`) stays as it is when a sync brings the person as
 *   Google has it; every other membership follows Google.
 * Sources: docs/google-people-contact-details.md §3 and §4.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { In, IsNull, Not } from 'typeorm';
import type { AgentKey } from '../agents/agent-ref';
import { Contact, ContactLabel, ContactLabelMember } from '../entities';
import type { Person } from '../google/people';
import { CONTACTS_OUTBOX } from '../outbox/topics';
import type { FeedWrite } from './contact-changes';

/** The system groups kept as (read-only) labels, with the names shown for them. */
export const SYSTEM_LABELS: Record<string, string> = {
  'contactGroups/myContacts': 'My Contacts',
  'contactGroups/starred': 'Starred',
};
export const STARRED = 'contactGroups/starred';
/**
 * Label names: Google documents no length limit; the emulator refuses names over 255 characters (its default, a
 * guess, docs/google-people-contact-details.md §3.3), and so do we, before anything is written.
 */
export const MAX_LABEL_NAME = 255;

/** The order labels are shown in: Google's My Contacts, then Starred, then the agent's own by name. */
export function byLabelOrder(
  a: Pick<ContactLabel, 'kind' | 'resourceName' | 'name' | 'id'>,
  b: Pick<ContactLabel, 'kind' | 'resourceName' | 'name' | 'id'>,
): number {
  const rank = (l: Pick<ContactLabel, 'kind' | 'resourceName'>) =>
    l.kind !== 'SYSTEM' ? 2 : l.resourceName === STARRED ? 1 : 0;
  return rank(a) - rank(b) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}

/** The contact-group resource names a person is in (its CONTACT-source memberships). */
export function groupsOf(p: Person): string[] {
  return [
    ...new Set(
      (p.memberships ?? [])
        .map((m) => m.contactGroupMembership?.contactGroupResourceName)
        .filter((x): x is string => Boolean(x)),
    ),
  ];
}

/** The agent's labels by resource name (those Google has). */
export async function labelsByResource(m: EntityManager, agent: AgentKey): Promise<Map<string, ContactLabel>> {
  const rows = await m
    .getRepository(ContactLabel)
    .find({ where: { agentId: agent.agentId, brokerageId: agent.brokerageId, resourceName: Not(IsNull()) } });
  return new Map(rows.map((l) => [l.resourceName!, l]));
}

/**
 * Bumps the version of contacts whose labels changed (their etag changes, as their content did) and puts them in the
 * change feed. A contact with a field change on its way keeps it on its way (syncedVersion stays behind).
 */
export async function touchContacts(m: EntityManager, agent: AgentKey, feed: FeedWrite, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  for (let i = 0; i < ids.length; i += 500) {
    const slice = ids.slice(i, i + 500);
    const where = { id: In(slice), agentId: agent.agentId, brokerageId: agent.brokerageId };
    await m
      .createQueryBuilder()
      .update(Contact)
      .set({ syncedVersion: () => 'syncedVersion + 1' })
      .where(where)
      .andWhere('syncedVersion = version')
      .execute();
    // updatedAt stays: it is the time of the CRM's last field edit, which decides merges (merge.ts).
    await m
      .createQueryBuilder()
      .update(Contact)
      .set({ version: () => 'version + 1' })
      .where(where)
      .execute();
  }
  await feed.mark(ids);
}

/**
 * What Google says a contact is in (`labelIds`, our ids), applied to its membership rows: rows with a change of ours
 * on its way stay; the rest follow Google. Returns whether anything changed. `read` only works out the change.
 */
export async function followGoogleMemberships(
  m: EntityManager,
  contact: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>,
  labelIds: string[],
  apply = true,
): Promise<boolean> {
  return (await followGoogleMembershipsOf(m, contact, [{ contactId: contact.id, labelIds }], apply)).size > 0;
}

/** followGoogleMemberships for many contacts of one agent, in a few statements; the ids of those that changed. */
export async function followGoogleMembershipsOf(
  m: EntityManager,
  agent: AgentKey,
  items: { contactId: string; labelIds: string[] }[],
  apply = true,
): Promise<Set<string>> {
  const repo = m.getRepository(ContactLabelMember);
  const rows: ContactLabelMember[] = [];
  for (let i = 0; i < items.length; i += 500)
    rows.push(
      ...(await repo.find({
        where: {
          contactId: In(items.slice(i, i + 500).map((x) => x.contactId)),
          agentId: agent.agentId,
          brokerageId: agent.brokerageId,
        },
      })),
    );
  const byContact = new Map<string, ContactLabelMember[]>();
  for (const r of rows) byContact.set(r.contactId, [...(byContact.get(r.contactId) ?? []), r]);
  const changed = new Set<string>();
  const inserts: ContactLabelMember[] = [];
  for (const { contactId, labelIds } of items) {
    const mine = byContact.get(contactId) ?? [];
    const ours = new Set(mine.filter((r) => r.pending !== null).map((r) => r.labelId));
    const settled = new Set(mine.filter((r) => r.pending === null).map((r) => r.labelId));
    const wanted = new Set(labelIds.filter((id) => !ours.has(id)));
    const gone = [...settled].filter((id) => !wanted.has(id));
    const added = [...wanted].filter((id) => !settled.has(id));
    if (gone.length + added.length === 0) continue;
    changed.add(contactId);
    if (!apply) continue;
    if (gone.length)
      await repo.delete({ contactId, agentId: agent.agentId, brokerageId: agent.brokerageId, labelId: In(gone) });
    inserts.push(
      ...added.map((labelId) => ({
        contactId,
        labelId,
        agentId: agent.agentId,
        brokerageId: agent.brokerageId,
        pending: null,
        changeNo: 0,
      })),
    );
  }
  for (let i = 0; i < inserts.length; i += 500)
    await m
      .createQueryBuilder()
      .insert()
      .into(ContactLabelMember)
      .values(inserts.slice(i, i + 500))
      .updateEntity(false)
      .execute();
  return changed;
}

/**
 * The agent's labels by resource name, Google's two system groups included even before the first label sync: they
 * always exist (https://developers.google.com/people/api/rest/v1/contactGroups.members/modify), and a contact we
 * create lands in My Contacts at once, so its label is known when Google's answer is recorded.
 */
export async function labelsWithSystem(m: EntityManager, agent: AgentKey): Promise<Map<string, ContactLabel>> {
  const known = await labelsByResource(m, agent);
  const missing = Object.keys(SYSTEM_LABELS).filter((rn) => !known.has(rn));
  if (missing.length === 0) return known;
  const now = new Date();
  await m
    .createQueryBuilder()
    .insert()
    .into(ContactLabel)
    .values(
      missing.map((rn) => ({
        id: randomUUID(),
        brokerageId: agent.brokerageId,
        agentId: agent.agentId,
        resourceName: rn,
        kind: 'SYSTEM' as const,
        name: SYSTEM_LABELS[rn],
        sentName: null,
        version: 1,
        syncedVersion: 1,
        syncState: 'SYNCED' as const,
        syncError: null,
        deletedAt: null,
        createdAt: now,
        updatedAt: now,
      })),
    )
    .orIgnore()
    .updateEntity(false)
    .execute();
  return labelsByResource(m, agent);
}

/** Membership rows of new contacts (none before), from what Google says they are in. */
export async function insertMemberships(
  m: EntityManager,
  items: { contact: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>; labelIds: string[] }[],
): Promise<void> {
  const rows = items.flatMap(({ contact, labelIds }) =>
    [...new Set(labelIds)].map((labelId) => ({
      contactId: contact.id,
      labelId,
      agentId: contact.agentId,
      brokerageId: contact.brokerageId,
      pending: null,
      changeNo: 0,
    })),
  );
  for (let i = 0; i < rows.length; i += 500)
    await m
      .createQueryBuilder()
      .insert()
      .into(ContactLabelMember)
      .values(rows.slice(i, i + 500))
      .orIgnore()
      .execute();
}

/** Removes labels and their membership rows; the contacts that were in them change (touchContacts). */
export async function removeLabels(
  m: EntityManager,
  agent: AgentKey,
  feed: FeedWrite,
  labelIds: string[],
): Promise<void> {
  if (labelIds.length === 0) return;
  const members = await m.getRepository(ContactLabelMember).find({
    where: { labelId: In(labelIds), agentId: agent.agentId, brokerageId: agent.brokerageId },
    select: { contactId: true, pending: true },
  });
  await m
    .getRepository(ContactLabelMember)
    .delete({ labelId: In(labelIds), agentId: agent.agentId, brokerageId: agent.brokerageId });
  await m
    .getRepository(ContactLabel)
    .delete({ id: In(labelIds), agentId: agent.agentId, brokerageId: agent.brokerageId });
  // A pending removal was not shown: only the contacts that showed the label change.
  await touchContacts(m, agent, feed, [
    ...new Set(members.filter((r) => r.pending !== 'remove').map((r) => r.contactId)),
  ]);
}

/**
 * Queues the pending membership changes of some contacts, or of some labels: one `label-members` row per label that
 * has any. For the moments a change could not be sent and nothing else would send it later: a contact that gets into
 * Google only now (created, re-created, restored), a label that does.
 */
export async function requeueMembers(
  m: EntityManager,
  agent: AgentKey,
  by: { contactIds?: string[]; labelIds?: string[] },
): Promise<number> {
  const ids = by.contactIds ?? by.labelIds ?? [];
  if (ids.length === 0) return 0;
  const labels = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const slice = ids.slice(i, i + 500);
    const rows = await m.getRepository(ContactLabelMember).find({
      where: {
        agentId: agent.agentId,
        brokerageId: agent.brokerageId,
        pending: Not(IsNull()),
        ...(by.contactIds ? { contactId: In(slice) } : { labelId: In(slice) }),
      },
      select: { labelId: true },
    });
    for (const r of rows) labels.add(r.labelId);
  }
  if (labels.size)
    await CONTACTS_OUTBOX.write(
      m,
      agent,
      [...labels].map((entityId) => ({ kind: 'label-members' as const, entityId })),
    );
  return labels.size;
}

/**
 * A contact Google lost (deleted there) that comes back from here (the CRM's edit wins): its labels of the agent's go
 * back with it, as changes on their way (Google's re-created contact is in My Contacts only).
 */
export async function reclaimMemberships(
  m: EntityManager,
  contact: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>,
): Promise<void> {
  // The agent's own labels and the star (Google's re-created copy is in My Contacts by itself).
  const own = new Set(
    (
      await m.getRepository(ContactLabel).find({
        where: { agentId: contact.agentId, brokerageId: contact.brokerageId },
        select: { id: true, kind: true, resourceName: true },
      })
    )
      .filter((l) => l.kind === 'USER' || l.resourceName === STARRED)
      .map((l) => l.id),
  );
  const rows = await m
    .getRepository(ContactLabelMember)
    .find({ where: { contactId: contact.id, brokerageId: contact.brokerageId, pending: IsNull() } });
  for (const r of rows.filter((x) => own.has(x.labelId))) {
    await m
      .getRepository(ContactLabelMember)
      .update(
        { contactId: r.contactId, labelId: r.labelId, brokerageId: r.brokerageId, changeNo: r.changeNo },
        { pending: 'add', changeNo: r.changeNo + 1 },
      );
  }
}
