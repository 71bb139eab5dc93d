/**
 * Google → CRM for labels (People contact groups): brings the agent's groups with contactGroups.list, with its own sync
 * token (contact_sync.groupSyncToken), through the People driver (src/google/people.ts). Who is in a group comes with
 * the persons (their `memberships`, contact.import.ts).
 *
 * - A group is never renamed by a sync while a rename of ours is on its way; deleted in Google, it is deleted here.
 * - A label of ours whose create went unanswered is linked to the group of its name (the create did reach Google),
 *   never created twice.
 * Sources: docs/google-people-contact-details.md §3 and §4.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { IsNull, Not } from 'typeorm';
import type { AgentKey } from '../agents/agent-ref';
import { ContactLabel, ContactSyncRecord } from '../entities';
import { mapGoogleError } from '../google/google-errors';
import { GROUP_BATCH_GET_MAX, type ContactGroup, type PeopleDriver } from '../google/people';
import { CONTACTS_OUTBOX } from '../outbox/topics';
import { changeFeed } from './contact-changes';
import { removeLabels, requeueMembers, SYSTEM_LABELS } from './contact-label.mirror';

export interface LabelSyncResult {
  calls: number;
  changed: number;
}

/**
 * Brings the agent's groups from Google: incremental with the stored sync token, or `full` (also when the token
 * expired: People answers 400 EXPIRED_SYNC_TOKEN), one contactGroups.list page per call (PeopleDriver.listGroups).
 * A full listing also removes the labels Google no longer lists (deleted there). A label of ours whose create went
 * unanswered is linked to the group of its name (the create did reach Google), never created twice.
 */
export async function syncLabels(
  ds: DataSource,
  agent: AgentKey,
  people: PeopleDriver,
  full = false,
): Promise<LabelSyncResult> {
  const rec = await ds
    .getRepository(ContactSyncRecord)
    .findOneByOrFail({ agentId: agent.agentId, brokerageId: agent.brokerageId });
  let token = full ? null : rec.groupSyncToken;
  const result: LabelSyncResult = { calls: 0, changed: 0 };
  const groups: ContactGroup[] = [];
  let next: string | undefined;
  for (;;) {
    groups.length = 0;
    let pageToken: string | undefined;
    try {
      do {
        const page = await people.listGroups({ syncToken: token ?? undefined, pageToken });
        result.calls++;
        groups.push(...page.groups);
        pageToken = page.nextPageToken;
        next = page.nextSyncToken ?? next;
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
  // (contactGroups.batchGet, GROUP_BATCH_GET_MAX names a call) before anything is removed, as the contact sweep does.
  let gone = new Set<string>();
  if (listedAll) {
    const listed = new Set(groups.filter((g) => !g.metadata?.deleted).map((g) => g.resourceName));
    const linked = await ds.getRepository(ContactLabel).find({
      where: { agentId: agent.agentId, brokerageId: agent.brokerageId, kind: 'USER', resourceName: Not(IsNull()) },
      select: { id: true, resourceName: true },
    });
    const missing = linked.map((l) => l.resourceName!).filter((rn) => !listed.has(rn));
    for (let i = 0; i < missing.length; i += GROUP_BATCH_GET_MAX) {
      const slice = missing.slice(i, i + GROUP_BATCH_GET_MAX);
      let responses;
      try {
        responses = await people.getGroupsMetadata(slice);
      } catch {
        // How Google answers a batch with a deleted group in it is not documented
        // (docs/google-people-contact-details.md
        // §3.3): when it is an error, nothing is removed this time (a removal needs a confirmation); the next full
        // listing asks again.
        result.calls++;
        break;
      }
      result.calls++;
      const alive = new Set(
        responses
          .filter((r) => r.contactGroup && !r.contactGroup.metadata?.deleted && (r.status?.code ?? 0) === 0)
          .map((r) => r.requestedResourceName ?? r.contactGroup!.resourceName),
      );
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
          const res = await repo.update(
            { id: existing.id, brokerageId: agent.brokerageId, version: existing.version },
            { name, version: existing.version + 1, syncedVersion: existing.version + 1, updatedAt: now },
          );
          if (res.affected) result.changed++;
        }
        continue;
      }
      // Ours, created with its answer lost (Google has it, we did not learn its name): found by the name its create
      // was sent with, or by its name; a label deleted here since, only by the name sent (then its delete goes on).
      const unlinked = known.find(
        (l) =>
          !l.resourceName &&
          l.kind === 'USER' &&
          !(l.deletedAt && l.version === l.syncedVersion) &&
          (l.deletedAt ? l.sentName === name : l.name === name || l.sentName === name),
      );
      if (unlinked) {
        const renamed = unlinked.name !== name;
        // Renamed since its create was sent: not caught up, and the rename goes after the link.
        await repo.update(
          { id: unlinked.id, brokerageId: agent.brokerageId },
          {
            resourceName: rn,
            ...(renamed || unlinked.deletedAt
              ? { syncedVersion: 0 }
              : { syncedVersion: unlinked.version, syncState: 'SYNCED' as const, syncError: null }),
          },
        );
        unlinked.resourceName = rn;
        if (renamed && !unlinked.deletedAt)
          await CONTACTS_OUTBOX.write(m, agent, { kind: 'label-update', entityId: unlinked.id });
        await requeueMembers(m, agent, { labelIds: [unlinked.id] });
      } else {
        await repo.insert({
          id: randomUUID(),
          brokerageId: agent.brokerageId,
          agentId: agent.agentId,
          resourceName: rn,
          kind: system ? 'SYSTEM' : 'USER',
          name,
          version: 1,
          syncedVersion: 1,
          syncState: 'SYNCED',
          syncError: null,
          deletedAt: null,
          createdAt: now,
          updatedAt: now,
        });
      }
      result.changed++;
    }
    for (const l of known)
      if (l.resourceName && gone.has(l.resourceName) && !removed.includes(l.id)) removed.push(l.id);
    await removeLabels(m, agent, feed, removed);
    result.changed += removed.length;
    await m
      .getRepository(ContactSyncRecord)
      .update(
        { agentId: agent.agentId, brokerageId: agent.brokerageId },
        { groupSyncToken: next ?? null, groupsSyncedAt: now },
      );
  });
  return result;
}
