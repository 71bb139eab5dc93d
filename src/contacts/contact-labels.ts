/**
 * Labels (People contact groups) in the mirror: Google → CRM for the groups themselves (contactGroups.list, with its
 * own sync token) and for who is in them (a person's `memberships`, brought by the contact sync), and the helpers the
 * label service and the outbox share.
 *
 * - The agent's own groups are labels (USER); of Google's system groups only myContacts and starred still mean
 *   something ("the only system contact groups that can have members added are contactGroups/myContacts and
 *   contactGroups/starred. Other system contact groups are deprecated",
 *   https://developers.google.com/people/api/rest/v1/contactGroups.members/modify): they are labels too (SYSTEM),
 *   read-only here; the deprecated ones are left out.
 * - A membership changed here and not yet in Google (`pending`) stays as it is when a sync brings the person as
 *   Google has it; every other membership follows Google.
 * - A group is never renamed by a sync while a rename of ours is on its way; deleted in Google, it is deleted here.
 * Sources: docs/google-people-contact-details.md §3 and §4.
 */
import { randomUUID } from 'node:crypto';
import type { people_v1 } from '@googleapis/people';
import type { DataSource, EntityManager } from 'typeorm';
import { In, IsNull, Not } from 'typeorm';
import { Contact, ContactLabel, ContactLabelMember, ContactSyncRecord } from '../entities';
import { mapGoogleError } from '../google/google-errors';
import { CONTACTS_OUTBOX } from '../outbox/topics';
import { changeFeed, type FeedWrite } from './contact-changes';

/** contactGroups.list pageSize: "between 1 and 1000, inclusive. Defaults to 30" (https://developers.google.com/people/api/rest/v1/contactGroups/list). */
export const GROUP_PAGE_SIZE = 1000;
/** contactGroups.members.modify: at most 1000 resource names added and removed in one call (https://developers.google.com/people/api/rest/v1/contactGroups.members/modify). */
export const MEMBERS_MODIFY_MAX = 1000;
/** contactGroups.batchGet: "There is a maximum of 200 resource names" (https://developers.google.com/people/api/rest/v1/contactGroups/batchGet). */
export const GROUP_BATCH_GET_MAX = 200;
/** The group fields a label sync reads (memberCount is ours: counted over the mirror, as contacts(label:) sees it). */
export const GROUP_FIELDS = 'metadata,groupType,name';
/** The system groups kept as (read-only) labels, with the names shown for them. */
export const SYSTEM_LABELS: Record<string, string> = { 'contactGroups/myContacts': 'My Contacts', 'contactGroups/starred': 'Starred' };
export const STARRED = 'contactGroups/starred';
/**
 * Label names: Google documents no length limit; the emulator refuses names over 255 characters (its default, a
 * guess, docs/google-people-contact-details.md §3.3), and so do we, before anything is written.
 */
export const MAX_LABEL_NAME = 255;

type Person = people_v1.Schema$Person;
type Group = people_v1.Schema$ContactGroup;

interface AgentKey {
  brokerageId: string;
  agentId: string;
}

/** The order labels are shown in: Google's My Contacts, then Starred, then the agent's own by name. */
export function byLabelOrder(a: ContactLabel, b: ContactLabel): number {
  const rank = (l: ContactLabel) => (l.kind !== 'SYSTEM' ? 2 : l.resourceName === STARRED ? 1 : 0);
  return rank(a) - rank(b) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}

/** The contact-group resource names a person is in (its CONTACT-source memberships). */
export function groupsOf(p: Person): string[] {
  return [...new Set((p.memberships ?? []).map((m) => m.contactGroupMembership?.contactGroupResourceName).filter((x): x is string => Boolean(x)))];
}

/** The agent's labels by resource name (those Google has). */
export async function labelsByResource(m: EntityManager, agent: AgentKey): Promise<Map<string, ContactLabel>> {
  const rows = await m.getRepository(ContactLabel).find({ where: { agentId: agent.agentId, brokerageId: agent.brokerageId, resourceName: Not(IsNull()) } });
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
    await m.createQueryBuilder().update(Contact).set({ syncedVersion: () => 'syncedVersion + 1' }).where(where).andWhere('syncedVersion = version').execute();
    // updatedAt stays: it is the time of the CRM's last field edit, which decides merges (merge.ts).
    await m.createQueryBuilder().update(Contact).set({ version: () => 'version + 1' }).where(where).execute();
  }
  await feed.mark(ids);
}

/**
 * What Google says a contact is in (`labelIds`, our ids), applied to its membership rows: rows with a change of ours
 * on its way stay; the rest follow Google. Returns whether anything changed. `read` only works out the change.
 */
export async function followGoogleMemberships(m: EntityManager, contact: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>, labelIds: string[], apply = true): Promise<boolean> {
  return (await followGoogleMembershipsOf(m, contact, [{ contactId: contact.id, labelIds }], apply)).size > 0;
}

/** followGoogleMemberships for many contacts of one agent, in a few statements; the ids of those that changed. */
export async function followGoogleMembershipsOf(m: EntityManager, agent: AgentKey, items: { contactId: string; labelIds: string[] }[], apply = true): Promise<Set<string>> {
  const repo = m.getRepository(ContactLabelMember);
  const rows: ContactLabelMember[] = [];
  for (let i = 0; i < items.length; i += 500) rows.push(...(await repo.find({ where: { contactId: In(items.slice(i, i + 500).map((x) => x.contactId)), agentId: agent.agentId, brokerageId: agent.brokerageId } })));
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
    if (gone.length) await repo.delete({ contactId, agentId: agent.agentId, brokerageId: agent.brokerageId, labelId: In(gone) });
    inserts.push(...added.map((labelId) => ({ contactId, labelId, agentId: agent.agentId, brokerageId: agent.brokerageId, pending: null, changeNo: 0 })));
  }
  for (let i = 0; i < inserts.length; i += 500) await m.createQueryBuilder().insert().into(ContactLabelMember).values(inserts.slice(i, i + 500)).updateEntity(false).execute();
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
  await m.createQueryBuilder().insert().into(ContactLabel).values(missing.map((rn) => ({ id: randomUUID(), brokerageId: agent.brokerageId, agentId: agent.agentId, resourceName: rn, kind: 'SYSTEM' as const, name: SYSTEM_LABELS[rn], sentName: null, version: 1, syncedVersion: 1, syncState: 'SYNCED' as const, syncError: null, deletedAt: null, createdAt: now, updatedAt: now }))).orIgnore().updateEntity(false).execute();
  return labelsByResource(m, agent);
}

/** Membership rows of new contacts (none before), from what Google says they are in. */
export async function insertMemberships(m: EntityManager, items: { contact: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>; labelIds: string[] }[]): Promise<void> {
  const rows = items.flatMap(({ contact, labelIds }) => [...new Set(labelIds)].map((labelId) => ({ contactId: contact.id, labelId, agentId: contact.agentId, brokerageId: contact.brokerageId, pending: null, changeNo: 0 })));
  for (let i = 0; i < rows.length; i += 500) await m.createQueryBuilder().insert().into(ContactLabelMember).values(rows.slice(i, i + 500)).orIgnore().execute();
}

/** Removes labels and their membership rows; the contacts that were in them change (touchContacts). */
export async function removeLabels(m: EntityManager, agent: AgentKey, feed: FeedWrite, labelIds: string[]): Promise<void> {
  if (labelIds.length === 0) return;
  const members = await m.getRepository(ContactLabelMember).find({ where: { labelId: In(labelIds), agentId: agent.agentId, brokerageId: agent.brokerageId }, select: { contactId: true, pending: true } });
  await m.getRepository(ContactLabelMember).delete({ labelId: In(labelIds), agentId: agent.agentId, brokerageId: agent.brokerageId });
  await m.getRepository(ContactLabel).delete({ id: In(labelIds), agentId: agent.agentId, brokerageId: agent.brokerageId });
  // A pending removal was not shown: only the contacts that showed the label change.
  await touchContacts(m, agent, feed, [...new Set(members.filter((r) => r.pending !== 'remove').map((r) => r.contactId))]);
}

/**
 * Queues the pending membership changes of some contacts, or of some labels: one `label-members` row per label that
 * has any. For the moments a change could not be sent and nothing else would send it later: a contact that gets into
 * Google only now (created, re-created, restored), a label that does.
 */
export async function requeueMembers(m: EntityManager, agent: AgentKey, by: { contactIds?: string[]; labelIds?: string[] }): Promise<number> {
  const ids = by.contactIds ?? by.labelIds ?? [];
  if (ids.length === 0) return 0;
  const labels = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const slice = ids.slice(i, i + 500);
    const rows = await m.getRepository(ContactLabelMember).find({ where: { agentId: agent.agentId, brokerageId: agent.brokerageId, pending: Not(IsNull()), ...(by.contactIds ? { contactId: In(slice) } : { labelId: In(slice) }) }, select: { labelId: true } });
    for (const r of rows) labels.add(r.labelId);
  }
  if (labels.size) await CONTACTS_OUTBOX.write(m, agent, [...labels].map((entityId) => ({ kind: 'label-members' as const, entityId })));
  return labels.size;
}

/**
 * A contact Google lost (deleted there) that comes back from here (the CRM's edit wins): its labels of the agent's go
 * back with it, as changes on their way (Google's re-created contact is in My Contacts only).
 */
export async function reclaimMemberships(m: EntityManager, contact: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>): Promise<void> {
  // The agent's own labels and the star (Google's re-created copy is in My Contacts by itself).
  const own = new Set((await m.getRepository(ContactLabel).find({ where: { agentId: contact.agentId, brokerageId: contact.brokerageId }, select: { id: true, kind: true, resourceName: true } })).filter((l) => l.kind === 'USER' || l.resourceName === STARRED).map((l) => l.id));
  const rows = await m.getRepository(ContactLabelMember).find({ where: { contactId: contact.id, brokerageId: contact.brokerageId, pending: IsNull() } });
  for (const r of rows.filter((x) => own.has(x.labelId))) {
    await m.getRepository(ContactLabelMember).update({ contactId: r.contactId, labelId: r.labelId, brokerageId: r.brokerageId, changeNo: r.changeNo }, { pending: 'add', changeNo: r.changeNo + 1 });
  }
}

export interface LabelSyncResult {
  calls: number;
  changed: number;
}

/**
 * Brings the agent's groups from Google: incremental with the stored sync token, or `full` (also when the token
 * expired: People answers 400 EXPIRED_SYNC_TOKEN), one contactGroups.list page of up to 1000 groups per call. A full
 * listing also removes the labels Google no longer lists (deleted there). A label of ours whose create went unanswered
 * is linked to the group of its name (the create did reach Google), never created twice.
 */
export async function syncLabels(ds: DataSource, agent: AgentKey, people: people_v1.People, full = false): Promise<LabelSyncResult> {
  const rec = await ds.getRepository(ContactSyncRecord).findOneByOrFail({ agentId: agent.agentId, brokerageId: agent.brokerageId });
  let token = full ? null : rec.groupSyncToken;
  const result: LabelSyncResult = { calls: 0, changed: 0 };
  const groups: Group[] = [];
  let next: string | undefined;
  for (;;) {
    groups.length = 0;
    let pageToken: string | undefined;
    try {
      do {
        const res = await people.contactGroups.list({ pageSize: GROUP_PAGE_SIZE, groupFields: GROUP_FIELDS, syncToken: token ?? undefined, pageToken });
        result.calls++;
        groups.push(...(res.data.contactGroups ?? []));
        pageToken = res.data.nextPageToken ?? undefined;
        next = res.data.nextSyncToken ?? next;
      } while (pageToken);
      break;
    } catch (err) {
      if (token && mapGoogleError(err, { api: 'people' }).kind === 'sync-token-expired') {
        token = null; // the same answer as connections': start again with a full listing
        continue;
      }
      throw err;
    }
  }
  const listedAll = token === null;
  // Labels a full listing did not name: gone from Google, or created just after the listing. Asked again one by one
  // (contactGroups.batchGet, 200 names a call) before anything is removed, as the contact sweep does.
  let gone = new Set<string>();
  if (listedAll) {
    const listed = new Set(groups.filter((g) => !g.metadata?.deleted).map((g) => g.resourceName));
    const linked = await ds.getRepository(ContactLabel).find({ where: { agentId: agent.agentId, brokerageId: agent.brokerageId, kind: 'USER', resourceName: Not(IsNull()) }, select: { id: true, resourceName: true } });
    const missing = linked.map((l) => l.resourceName!).filter((rn) => !listed.has(rn));
    for (let i = 0; i < missing.length; i += GROUP_BATCH_GET_MAX) {
      const slice = missing.slice(i, i + GROUP_BATCH_GET_MAX);
      let res;
      try {
        res = await people.contactGroups.batchGet({ resourceNames: slice, groupFields: 'metadata' });
      } catch {
        // How Google answers a batch with a deleted group in it is not documented [docs §3.3]: when it is an error,
        // nothing is removed this time (a removal needs a confirmation); the next full listing asks again.
        result.calls++;
        break;
      }
      result.calls++;
      const alive = new Set((res.data.responses ?? []).filter((r) => r.contactGroup && !r.contactGroup.metadata?.deleted && (r.status?.code ?? 0) === 0).map((r) => r.requestedResourceName ?? r.contactGroup!.resourceName));
      gone = new Set([...gone, ...slice.filter((rn) => !alive.has(rn))]);
    }
  }
  await ds.transaction(async (m) => {
    const feed = await changeFeed(m, agent);
    const repo = m.getRepository(ContactLabel);
    const known = await repo.find({ where: { agentId: agent.agentId, brokerageId: agent.brokerageId } });
    const byResource = new Map(known.filter((l) => l.resourceName).map((l) => [l.resourceName!, l]));
    const removed: string[] = [];
    const now = new Date();
    for (const g of groups) {
      const rn = g.resourceName;
      if (!rn) continue;
      const system = g.groupType === 'SYSTEM_CONTACT_GROUP';
      if (system && !SYSTEM_LABELS[rn]) continue;
      const existing = byResource.get(rn);
      if (g.metadata?.deleted) {
        if (existing) removed.push(existing.id);
        continue;
      }
      const name = system ? SYSTEM_LABELS[rn] : (g.name ?? g.formattedName ?? '').trim();
      if (existing) {
        // A rename of ours on its way wins (it is sent after this); otherwise Google's name. Guarded by the version
        // read: a rename committed meanwhile is not overwritten.
        if (existing.name !== name && existing.version === existing.syncedVersion && !existing.deletedAt) {
          const res = await repo.update({ id: existing.id, brokerageId: agent.brokerageId, version: existing.version }, { name, version: existing.version + 1, syncedVersion: existing.version + 1, updatedAt: now });
          if (res.affected) result.changed++;
        }
        continue;
      }
      // Ours, created with its answer lost (Google has it, we did not learn its name): found by the name its create
      // was sent with, or by its name; a label deleted here since, only by the name sent (then its delete goes on).
      const unlinked = known.find((l) => !l.resourceName && l.kind === 'USER' && !(l.deletedAt && l.version === l.syncedVersion) && (l.deletedAt ? l.sentName === name : l.name === name || l.sentName === name));
      if (unlinked) {
        const renamed = unlinked.name !== name;
        // Renamed since its create was sent: not caught up, and the rename goes after the link.
        await repo.update({ id: unlinked.id, brokerageId: agent.brokerageId }, { resourceName: rn, ...(renamed || unlinked.deletedAt ? { syncedVersion: 0 } : { syncedVersion: unlinked.version, syncState: 'SYNCED' as const, syncError: null }) });
        unlinked.resourceName = rn;
        if (renamed && !unlinked.deletedAt) await CONTACTS_OUTBOX.write(m, agent, { kind: 'label-update', entityId: unlinked.id });
        await requeueMembers(m, agent, { labelIds: [unlinked.id] });
      } else {
        await repo.insert({ id: randomUUID(), brokerageId: agent.brokerageId, agentId: agent.agentId, resourceName: rn, kind: system ? 'SYSTEM' : 'USER', name, version: 1, syncedVersion: 1, syncState: 'SYNCED', syncError: null, deletedAt: null, createdAt: now, updatedAt: now });
      }
      result.changed++;
    }
    for (const l of known) if (l.resourceName && gone.has(l.resourceName) && !removed.includes(l.id)) removed.push(l.id);
    await removeLabels(m, agent, feed, removed);
    result.changed += removed.length;
    await m.getRepository(ContactSyncRecord).update({ agentId: agent.agentId, brokerageId: agent.brokerageId }, { groupSyncToken: next ?? null, groupsSyncedAt: now });
  });
  return result;
}
