/**
 * The label rules (People contact groups: contact-label.mirror.ts, contact-label.sync.ts). Reads come from the
 * mirror, made fresh first (the contacts and then the labels, each when older than the freshness window). Writes
 * change the mirror and record an outbox row in one transaction, in the agent's contacts lane, then wait briefly for
 * Google as contact writes do. Every query is scoped to the caller's own agent: another agent's label or contact is
 * NOT_FOUND.
 */
import { randomUUID } from 'node:crypto';
import { In, IsNull } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import { Contact, ContactLabel, ContactLabelMember } from '../entities';
import { badInput, notFound } from '../errors';
import { CONTACTS_OUTBOX } from '../outbox/topics';
import type { OutboxWorker } from '../outbox/worker';
import { changeFeed } from './contact-changes';
import { byLabelOrder, MAX_LABEL_NAME, touchContacts } from './contact-label.mirror';
import { SyncStateEnum } from './contact.type';
import type { ContactSync } from './contact.sync';
import { ContactLabelType } from './contact-label.type';
import type { Count } from '../graphql/connection';
import { MAX_BULK, type ContactSettings } from './contact.service';
import { memberCounts, type LabelView } from './contact.loader';

/**
 * Names Google keeps for its system groups: a group of the agent's may not take one (Google answers 409 for a name
 * among the user's groups, system ones included [docs/google-people-contact-details.md §3.3]).
 */
const RESERVED_NAMES = [
  'mycontacts',
  'starred',
  'friends',
  'family',
  'coworkers',
  'chatbuddies',
  'all',
  'blocked',
  'my contacts',
];

export class ContactLabelService {
  constructor(private readonly deps: { sync: ContactSync; outbox: OutboxWorker; settings: ContactSettings }) {}

  /** The caller's labels: Google's two system ones first, then the agent's by name. */
  async list(scope: TenantScope): Promise<ContactLabelType[]> {
    await this.deps.sync.ensureLabelsFresh(scope.agent, this.deps.settings.freshnessMs);
    const labels = await scope.findForAgent(ContactLabel, { deletedAt: IsNull() });
    const counts = await memberCounts(
      scope,
      labels.map((l) => l.id),
    );
    return labels.sort(byLabelOrder).map((l) => toLabelType(l, counts.get(l.id) ?? 0));
  }

  /** One of the caller's labels (not deleted), or NOT_FOUND. `scope`: the transaction's, when in one. */
  async get(scope: TenantScope, id: string, field = 'id'): Promise<ContactLabel> {
    const label = await scope.findOneForAgent(ContactLabel, { id, deletedAt: IsNull() });
    if (!label) throw notFound('Label', id, { field });
    return label;
  }

  async create(scope: TenantScope, rawName: string): Promise<ContactLabelType> {
    const name = this.checkName(rawName);
    const now = new Date();
    const id = randomUUID();
    const seqs = await scope.transaction(async (m, tx) => {
      await changeFeed(m, scope); // the agent's lock, first as in every contact write: one name check at a time
      await this.checkUnique(tx, name, null);
      await m.getRepository(ContactLabel).insert({
        id,
        brokerageId: scope.brokerageId,
        agentId: scope.agentId,
        resourceName: null,
        kind: 'USER',
        name,
        version: 1,
        syncedVersion: 0,
        syncState: 'PENDING',
        syncError: null,
        deletedAt: null,
        createdAt: now,
        updatedAt: now,
      });
      return CONTACTS_OUTBOX.write(m, scope, { kind: 'label-create', entityId: id }, now);
    });
    return this.afterWrite(scope, seqs, id);
  }

  async rename(scope: TenantScope, id: string, rawName: string): Promise<ContactLabelType> {
    const name = this.checkName(rawName);
    const seqs = await scope.transaction(async (m, tx) => {
      await changeFeed(m, scope); // the agent's lock first (a label sync takes it before label rows too)
      const label = this.writable(await this.get(tx, id));
      if (label.name === name) return [];
      await this.checkUnique(tx, name, id);
      await m
        .getRepository(ContactLabel)
        .update(
          { id, brokerageId: scope.brokerageId },
          { name, version: label.version + 1, syncState: 'PENDING', syncError: null, updatedAt: new Date() },
        );
      // Not in Google yet: a create, which sends the name it finds then (a no-op once the label is linked; one already
      // under way queues the rename itself when it is recorded). Decided on this read, whatever a delivery writes
      // meanwhile without the agent's lock: something is always queued.
      return CONTACTS_OUTBOX.write(m, scope, {
        kind: label.resourceName ? 'label-update' : 'label-create',
        entityId: id,
      });
    });
    return this.afterWrite(scope, seqs, id);
  }

  /** Deletes the label (its contacts stay, they leave the label). Deleting again, before Google has it, is no error. */
  async delete(scope: TenantScope, id: string): Promise<boolean> {
    const seqs = await scope.transaction(async (m, tx) => {
      const feed = await changeFeed(m, scope); // the agent's lock first (a label sync takes it before label rows too)
      const label = await tx.findOneForAgent(ContactLabel, { id });
      if (!label) throw notFound('Label', id, { field: 'id' });
      if (label.deletedAt) return [];
      this.writable(label);
      const now = new Date();
      await m
        .getRepository(ContactLabel)
        .update(
          { id, brokerageId: scope.brokerageId },
          { deletedAt: now, version: label.version + 1, syncState: 'PENDING', updatedAt: now },
        );
      const members = await tx.findForAgent(ContactLabelMember, { labelId: id });
      await m
        .getRepository(ContactLabelMember)
        .delete({ labelId: id, agentId: scope.agentId, brokerageId: scope.brokerageId });
      await touchContacts(
        m,
        scope,
        feed,
        members.filter((r) => r.pending !== 'remove').map((r) => r.contactId),
      );
      return CONTACTS_OUTBOX.write(m, scope, { kind: 'label-delete', entityId: id }, now);
    });
    if (seqs.length) await this.deliver(scope, seqs);
    return true;
  }

  /** Adds contacts to a label (up to MAX_BULK; they reach Google MEMBERS_MODIFY_MAX a call). */
  addContacts(scope: TenantScope, labelId: string, contactIds: string[]): Promise<ContactLabelType> {
    return this.changeMembers(scope, labelId, contactIds, 'add');
  }

  removeContacts(scope: TenantScope, labelId: string, contactIds: string[]): Promise<ContactLabelType> {
    return this.changeMembers(scope, labelId, contactIds, 'remove');
  }

  private async changeMembers(
    scope: TenantScope,
    labelId: string,
    contactIds: string[],
    change: 'add' | 'remove',
  ): Promise<ContactLabelType> {
    if (contactIds.length === 0 || contactIds.length > MAX_BULK)
      throw badInput(`Give from 1 to ${MAX_BULK} contact ids (got ${contactIds.length})`, { field: 'contactIds' });
    const ids = [...new Set(contactIds)];
    const seqs = await scope.transaction(async (m, tx) => {
      const feed = await changeFeed(m, scope);
      this.writable(await this.get(tx, labelId, 'labelId'), 'labelId');
      const live = new Set(
        (
          await tx
            .agentQuery(Contact, 'c')
            .select(['c.id'])
            .andWhere('c.id IN (:...ids)', { ids })
            .andWhere('c.deletedAt IS NULL')
            .getMany()
        ).map((c) => c.id),
      );
      const missing = ids.find((id) => !live.has(id));
      if (missing) throw notFound('Contact', missing, { field: 'contactIds' });
      const rows = new Map(
        (await tx.findForAgent(ContactLabelMember, { labelId, contactId: In(ids) })).map((r) => [r.contactId, r]),
      );
      const changed: string[] = [];
      const fresh: ContactLabelMember[] = [];
      const existing: string[] = [];
      for (const contactId of ids) {
        const r = rows.get(contactId);
        const shown = r !== undefined && r.pending !== 'remove';
        if (change === 'add' ? shown : !shown) continue; // already as asked
        if (r) existing.push(contactId);
        else
          fresh.push({
            contactId,
            labelId,
            agentId: scope.agentId,
            brokerageId: scope.brokerageId,
            pending: 'add',
            changeNo: 1,
          });
        changed.push(contactId);
      }
      // changeNo moves on: a delivery sending a row's previous change leaves this one pending
      // (contact-label.delivery.ts).
      for (let i = 0; i < existing.length; i += 500) {
        await m
          .createQueryBuilder()
          .update(ContactLabelMember)
          .set({ pending: change, changeNo: () => 'changeNo + 1' })
          .where({
            labelId,
            contactId: In(existing.slice(i, i + 500)),
            agentId: scope.agentId,
            brokerageId: scope.brokerageId,
          })
          .execute();
      }
      for (let i = 0; i < fresh.length; i += 500)
        await m
          .createQueryBuilder()
          .insert()
          .into(ContactLabelMember)
          .values(fresh.slice(i, i + 500))
          .updateEntity(false)
          .execute();
      if (changed.length === 0) return [];
      await touchContacts(m, scope, feed, changed);
      return CONTACTS_OUTBOX.write(m, scope, { kind: 'label-members', entityId: labelId });
    });
    return this.afterWrite(scope, seqs, labelId);
  }

  private writable(label: ContactLabel, field = 'id'): ContactLabel {
    if (label.kind === 'SYSTEM')
      throw badInput(`"${label.name}" is one of Google's own labels: it cannot be changed here`, { field });
    return label;
  }

  private checkName(raw: string): string {
    const name = raw.trim().replace(/\s+/g, ' ');
    if (!name) throw badInput('"name" must not be blank', { field: 'name' });
    if ([...name].length > MAX_LABEL_NAME)
      throw badInput(`"name" must be at most ${MAX_LABEL_NAME} characters (got ${[...name].length})`, {
        field: 'name',
      });
    if (/[\u0000-\u001f\u007f]/u.test(name))
      throw badInput('"name" must be one line of printable text', { field: 'name' });
    if (RESERVED_NAMES.includes(name.toLowerCase()))
      throw badInput(`"${name}" is the name of one of Google's own labels`, { field: 'name' });
    return name;
  }

  /**
   * No two labels of an agent with one name (Google refuses it with 409); compared without case, as agents read them.
   */
  private async checkUnique(scope: TenantScope, name: string, except: string | null): Promise<void> {
    const taken = (await scope.findForAgent(ContactLabel, { deletedAt: IsNull() })).find(
      (l) => l.id !== except && l.name.toLowerCase() === name.toLowerCase(),
    );
    if (taken)
      throw badInput(`There is already a label named "${taken.name}"`, { field: 'name', existingId: taken.id });
  }

  private async deliver(scope: TenantScope, seqs: number[]): Promise<void> {
    await this.deps.outbox.settle(CONTACTS_OUTBOX, scope, seqs, { feature: 'contacts' });
  }

  private async afterWrite(scope: TenantScope, seqs: number[], id: string): Promise<ContactLabelType> {
    if (seqs.length) await this.deliver(scope, seqs);
    const label = await this.get(scope, id); // deleted meanwhile (in Google): NOT_FOUND
    return toLabelType(label, (await memberCounts(scope, [id])).get(id) ?? 0);
  }
}

export function toLabelType(l: LabelView, members: number | Count): ContactLabelType {
  return Object.assign(new ContactLabelType(), {
    id: l.id,
    name: l.name,
    system: l.kind === 'SYSTEM',
    members,
    resourceName: l.resourceName,
    syncState: SyncStateEnum[l.syncState],
    syncError: l.syncState === 'SYNCED' ? null : l.syncError,
  });
}
