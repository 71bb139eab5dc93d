/**
 * CRM → Google for labels, in the contacts lane of the outbox (so after the contacts they name, in the order they
 * were made): a label's create, rename and delete (contactGroups.create/update/delete), and the contacts added to or
 * removed from it (contactGroups.members.modify, up to MEMBERS_MODIFY_MAX names a call, not one update per contact).
 * Each row names a label; its CURRENT state is what is sent, so a label created, renamed and filled before delivery
 * is one create and one members.modify.
 *
 * Safety:
 * - A create whose answer was lost is not made twice: Google refuses a second group of the same name (409), and the
 *   retry then links the label to the group of its name (syncLabels).
 * - members.modify adds and removes are idempotent in Google; a membership changed here again while it was being
 *   sent (changeNo) stays pending and goes in the next call.
 * - A contact Google no longer has (`notFoundResourceNames`) loses the pending change (the sync deletes the contact);
 *   one whose last group this was keeps it, as Google does (`canNotRemoveLastContactGroupResourceNames`).
 * Sources: docs/google-people-contact-details.md §3.3.
 */
import type { DataSource } from 'typeorm';
import { In, IsNull, Not } from 'typeorm';
import type { AgentKey } from '../agents/agent-ref';
import { Contact, ContactLabel, ContactLabelMember, type OutboxRow } from '../entities';
import { isOurFailure, mapGoogleError } from '../google/google-errors';
import { MEMBERS_MODIFY_MAX, type ContactGroup, type PeopleDriver } from '../google/people';
import { CONTACTS_OUTBOX } from '../outbox/topics';
import { changeFeed } from './contact-changes';
import { removeLabels, requeueMembers, touchContacts } from './contact-label.mirror';
import type { ContactSync } from './contact.sync';

export const LABEL_KINDS = ['label-create', 'label-update', 'label-delete', 'label-members'] as const;
export type LabelKind = (typeof LABEL_KINDS)[number];

/** A failure to report as Google refusing the label's change, with its message. */
export class LabelRefused extends Error {}

export class LabelDelivery {
  constructor(
    private readonly ds: DataSource,
    private readonly sync: Pick<ContactSync, 'syncLabelsNow'>,
  ) {}

  async send(
    kind: LabelKind,
    people: PeopleDriver,
    rows: Pick<OutboxRow, 'entityId'>[],
    agent: AgentKey,
  ): Promise<void> {
    for (const id of [...new Set(rows.map((r) => r.entityId))]) {
      const label = await this.ds
        .getRepository(ContactLabel)
        .findOneBy({ id, agentId: agent.agentId, brokerageId: agent.brokerageId });
      if (!label) continue; // gone (deleted in Google, or its delete delivered): nothing left to send
      if (kind === 'label-create') await this.create(people, label, agent);
      else if (kind === 'label-update') await this.rename(people, label, agent);
      else if (kind === 'label-delete') await this.remove(people, label, agent);
      else await this.members(people, label, agent);
    }
  }

  private async create(people: PeopleDriver, label: ContactLabel, agent: AgentKey): Promise<void> {
    if (label.resourceName || label.deletedAt) return; // linked already (a sync found it), or deleted before it went
    if (label.sentName) {
      // An earlier attempt may have reached Google unanswered, under the name it was sent with: found by that name
      // and linked (renamed after, if it was renamed since) rather than made again under the new one.
      await this.sync.syncLabelsNow(agent, people);
      const now = await this.ds.getRepository(ContactLabel).findOneBy({ id: label.id, brokerageId: agent.brokerageId });
      if (!now || now.resourceName || now.deletedAt) return;
      label = now;
    }
    await this.ds
      .getRepository(ContactLabel)
      .update({ id: label.id, brokerageId: agent.brokerageId }, { sentName: label.name });
    let group: ContactGroup;
    try {
      group = await people.createGroup(label.name);
    } catch (err) {
      const f = mapGoogleError(err, { api: 'people' });
      if (f.kind !== 'duplicate') {
        // A definite answer (Google refused it, or was busy): nothing was made, so nothing is to be found by the
        // name sent later (a group the agent makes under that name in Google is not ours). Unanswered: kept.
        // Google's 5xx (kind 'unavailable') may have made it all the same: kept, as after a lost answer.
        if (!(f.kind === 'network' || f.kind === 'unavailable' || isOurFailure(f)))
          await this.ds
            .getRepository(ContactLabel)
            .update({ id: label.id, brokerageId: agent.brokerageId }, { sentName: null });
        throw err;
      }
      // Google has a group of this name: ours, created before with its answer lost, or one made in Google meanwhile.
      // Either way it is the label the agent means: linked by name (syncLabels, which also queues a rename made
      // meanwhile), not created twice.
      await this.sync.syncLabelsNow(agent, people);
      const now = await this.ds.getRepository(ContactLabel).findOneBy({ id: label.id, brokerageId: agent.brokerageId });
      if (!now?.resourceName) {
        await this.ds
          .getRepository(ContactLabel)
          .update({ id: label.id, brokerageId: agent.brokerageId }, { sentName: null }); // nothing of ours was made
        throw new LabelRefused(`Google has a label named "${label.name}" that is not this one`);
      }
      return;
    }
    await this.stored(label, group);
  }

  private async rename(people: PeopleDriver, label: ContactLabel, agent: AgentKey): Promise<void> {
    // Not in Google yet: its create sends the name it has then, and one renamed during the create is queued again
    // when the create is recorded (stored), so nothing waits here.
    if (label.deletedAt || label.version <= label.syncedVersion || !label.resourceName) return;
    try {
      // No etag: the rename is the agent's latest word on the name (a stale group etag would only make Google refuse
      // it).
      await this.stored(label, await people.renameGroup(label.resourceName, label.name));
    } catch (err) {
      const f = mapGoogleError(err, { api: 'people' });
      if (f.kind === 'not-found') return this.goneInGoogle(label, agent);
      if (f.kind === 'duplicate') throw new LabelRefused(`Google has another label named "${label.name}"`);
      throw err;
    }
  }

  private async remove(people: PeopleDriver, label: ContactLabel, agent: AgentKey): Promise<void> {
    if (!label.deletedAt) return;
    if (!label.resourceName && label.sentName) {
      // Its create may have reached Google unanswered: the group is found first, so that it goes too.
      await this.sync.syncLabelsNow(agent, people);
      label =
        (await this.ds.getRepository(ContactLabel).findOneBy({ id: label.id, brokerageId: agent.brokerageId })) ??
        label;
    }
    if (label.resourceName) {
      try {
        // The contacts stay, they only leave the label.
        await people.deleteGroup(label.resourceName);
      } catch (err) {
        if (mapGoogleError(err, { api: 'people' }).kind !== 'not-found') throw err;
      }
    }
    // Kept as a tombstone (deleted, no longer linked): deleting it again answers true, as for contacts.
    await this.ds
      .getRepository(ContactLabel)
      .update(
        { id: label.id, brokerageId: agent.brokerageId },
        { resourceName: null, sentName: null, syncedVersion: label.version, syncState: 'SYNCED', syncError: null },
      );
  }

  private async goneInGoogle(label: ContactLabel, agent: AgentKey): Promise<void> {
    await this.ds.transaction(async (m) => removeLabels(m, agent, await changeFeed(m, agent), [label.id]));
  }

  private async stored(label: ContactLabel, g: ContactGroup): Promise<void> {
    if (!g.resourceName) throw new Error('Google answered a group without a resourceName');
    await this.ds.transaction(async (m) => {
      // What the label's contacts show of it changes (its resourceName and syncState): at a feed position of its own,
      // taken first as in every contact write (contact-changes.ts; kept pages, contact-page-cache.ts).
      await changeFeed(m, label);
      const repo = m.getRepository(ContactLabel);
      await repo.update({ id: label.id, brokerageId: label.brokerageId }, { resourceName: g.resourceName });
      // Caught up, unless it was renamed (or deleted) while this was sent: then the newer change follows.
      const caughtUp = await repo.update(
        { id: label.id, brokerageId: label.brokerageId, version: label.version },
        { syncedVersion: label.version, syncState: 'SYNCED', syncError: null },
      );
      if (!caughtUp.affected && !label.resourceName) {
        const now = await repo.findOneBy({ id: label.id, brokerageId: label.brokerageId });
        if (now && !now.deletedAt && now.version > now.syncedVersion)
          await CONTACTS_OUTBOX.write(m, label, { kind: 'label-update', entityId: label.id });
      }
      // Membership changes that could not be sent before the label was in Google (its create failed, then came back).
      if (!label.resourceName) await requeueMembers(m, label, { labelIds: [label.id] });
    });
  }

  /** Sends the label's pending membership changes, MEMBERS_MODIFY_MAX names a call. */
  private async members(people: PeopleDriver, label: ContactLabel, agent: AgentKey): Promise<void> {
    if (label.deletedAt) return; // its delete takes every membership with it
    // Not in Google yet (its create is queued, or was refused): the changes stay pending and are queued again when the
    // label gets there (stored, or linked by syncLabels). Never an error that would hold the agent's lane.
    if (!label.resourceName) return;
    const where = { labelId: label.id, agentId: agent.agentId, brokerageId: agent.brokerageId, pending: Not(IsNull()) };
    const pending = await this.ds.getRepository(ContactLabelMember).find({ where, order: { contactId: 'ASC' } });
    if (pending.length === 0) return;
    const contacts = new Map<string, Pick<Contact, 'id' | 'resourceName' | 'deletedAt'>>();
    for (let i = 0; i < pending.length; i += 500) {
      const rows = await this.ds.getRepository(Contact).find({
        where: {
          id: In(pending.slice(i, i + 500).map((r) => r.contactId)),
          agentId: agent.agentId,
          brokerageId: agent.brokerageId,
        },
        select: { id: true, resourceName: true, deletedAt: true },
      });
      for (const c of rows) contacts.set(c.id, c);
    }
    // A contact not in Google yet (its create failed) cannot be labelled there: its change waits.
    const sendable = pending.filter(
      (r) => contacts.get(r.contactId)?.resourceName && !contacts.get(r.contactId)?.deletedAt,
    );
    for (let i = 0; i < sendable.length; i += MEMBERS_MODIFY_MAX) {
      const chunk = sendable.slice(i, i + MEMBERS_MODIFY_MAX);
      const name = (r: ContactLabelMember) => contacts.get(r.contactId)!.resourceName!;
      const res = await people.modifyGroupMembers(
        label.resourceName,
        chunk.filter((r) => r.pending === 'add').map(name),
        chunk.filter((r) => r.pending === 'remove').map(name),
      );
      const notFound = new Set(res.notFound);
      const kept = new Set(res.keptInLastGroup);
      await this.ds.transaction(async (m) => {
        const feed = await changeFeed(m, agent);
        const repo = m.getRepository(ContactLabelMember);
        // Settled in statements per (outcome, changeNo): rows changed again meanwhile (another changeNo) stay pending.
        // Google no longer has a contact (notFound): its change stays pending; the sync's delete takes it away with
        // the contact, and if the contact comes back from here (an edit wins) it goes with it (requeueMembers).
        const groups = new Map<string, { outcome: 'settle' | 'drop' | 'kept'; changeNo: number; ids: string[] }>();
        for (const r of chunk) {
          const rn = name(r);
          if (notFound.has(rn)) continue;
          // Google keeps a contact in its last group: so do we (shown again).
          const outcome = r.pending === 'remove' ? (kept.has(rn) ? 'kept' : 'drop') : 'settle';
          const g = groups.get(`${outcome}:${r.changeNo}`) ?? { outcome, changeNo: r.changeNo, ids: [] };
          g.ids.push(r.contactId);
          groups.set(`${outcome}:${r.changeNo}`, g);
        }
        const stillIn: string[] = [];
        for (const g of groups.values()) {
          for (let j = 0; j < g.ids.length; j += 500) {
            const where = {
              labelId: label.id,
              agentId: agent.agentId,
              brokerageId: agent.brokerageId,
              changeNo: g.changeNo,
              contactId: In(g.ids.slice(j, j + 500)),
            };
            if (g.outcome === 'drop') await repo.delete(where);
            else {
              const res = await repo.update(where, { pending: null });
              // Only contacts settled here show the label again (one changed meanwhile keeps its own change).
              if (g.outcome === 'kept' && res.affected === Math.min(500, g.ids.length - j))
                stillIn.push(...g.ids.slice(j, j + 500));
            }
          }
        }
        await touchContacts(m, agent, feed, stillIn);
      });
    }
    // Pending rows of contacts deleted here go with them (removeContacts); nothing else to do for them.
  }
}
