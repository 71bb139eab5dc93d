/**
 * Google's persons → the contact mirror: what a sync page (or a getBatchGet read outside a sync) says about each
 * contact, applied to the mirror by these rules:
 *
 * - A person is matched by resourceName, or by our id in its clientData (a create whose answer was lost), so nothing
 *   is duplicated; a second copy carrying our id (a retried create) is queued for deletion in Google.
 * - Our own writes coming back (same etag) change nothing; a new etag with nothing a client sees changed (a label
 *   change of ours, a photo) only records what Google sent (applyQuiet).
 * - A contact edited here and not yet delivered is merged three ways (merge.ts); deleted in Google but edited here,
 *   or deleted here but edited in Google: the edit wins (re-created, or restored).
 * - Memberships follow Google's (contact-label.mirror.ts), except changes of ours on their way.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { In } from 'typeorm';
import type { AgentRef } from '../agents/agent-ref';
import { Contact } from '../entities';
import type { PeopleDriver, Person } from '../google/people';
import type { Logger } from '../logger';
import { CONTACTS_OUTBOX } from '../outbox/topics';
import { parseUnconfirmed } from '../outbox/unconfirmed';
import type { OutboxWorker } from '../outbox/worker';
import { changeFeed } from './contact-changes';
import {
  followGoogleMemberships,
  followGoogleMembershipsOf,
  groupsOf,
  insertMemberships,
  labelsByResource,
  reclaimMemberships,
  requeueMembers,
} from './contact-label.mirror';
import { syncLabels } from './contact-label.sync';
import { insertTokens, replaceTokens } from './contact-search';
import {
  columnsOf,
  importedRow,
  fieldsOf,
  insertContacts,
  insertEmails,
  removeContacts,
  writeEmails,
} from './contact.mirror';
import { mergeContact, onlyOurChanges } from './merge';
import {
  engageIdOf,
  fieldsFromPerson,
  PHONETIC_NAME_PARTS,
  primaryFirst,
  updateTimeOf,
  type ContactFields,
} from './person.mapper';

/** Google's system groups: known from the first (full) sync on, or deprecated and no label of ours; never looked up. */
const SYSTEM_GROUP = /^contactGroups\/(friends|family|coworkers|chatBuddies|all|blocked|myContacts|starred)$/;

/**
 * What an import during a sync needs to bring unknown groups from Google: the driver, the sync's call count, and
 * whether it did already.
 */
export interface LabelContext {
  people: PeopleDriver;
  result: { calls: number };
  synced?: boolean;
}

export class ContactImport {
  constructor(private readonly deps: { ds: DataSource; outbox: OutboxWorker; log: Logger }) {}

  /**
   * Imports one page of persons (live ones, and `metadata.deleted` ones as deletions); returns how many contacts
   * changed and were removed. `labels`: during a sync, what an unknown group needs (labelIdsOf); `refill`: the persons
   * were read with more fields than the mirror was made with (contact_sync.personFields).
   */
  async importPage(
    agent: AgentRef,
    persons: Person[],
    labels?: LabelContext,
    refill = false,
  ): Promise<{ imported: number; removed: number }> {
    let imported = 0;
    let removed = 0;
    const live = persons.filter((p) => p.resourceName && !p.metadata?.deleted);
    for (const p of persons)
      if (p.resourceName && p.metadata?.deleted && (await this.applyDeleted(agent, p.resourceName))) removed++;
    if (live.length === 0) return { imported, removed };
    const labelIds = await this.labelIdsOf(agent, live, labels);

    const repo = this.deps.ds.getRepository(Contact);
    const byResource = new Map(
      (
        await repo.find({
          where: {
            agentId: agent.agentId,
            brokerageId: agent.brokerageId,
            resourceName: In(live.map((p) => p.resourceName!)),
          },
        })
      ).map((c) => [c.resourceName!, c]),
    );
    const engageIds = live
      .filter((p) => !byResource.has(p.resourceName!))
      .map(engageIdOf)
      .filter((x): x is string => Boolean(x));
    const byEngageId = new Map(
      engageIds.length
        ? (
            await repo.find({ where: { agentId: agent.agentId, brokerageId: agent.brokerageId, id: In(engageIds) } })
          ).map((c) => [c.id, c])
        : [],
    );

    const quiet = await this.applyQuiet(
      agent,
      live.flatMap((p) => {
        const c = byResource.get(p.resourceName!);
        return c ? [{ c, p, labelIds: labelIds.get(p.resourceName!) ?? [] }] : [];
      }),
    );
    const fresh: { row: Contact; fields: ContactFields; labelIds: string[] }[] = [];
    const duplicates: string[] = [];
    for (const p of live) {
      if (quiet.has(p.resourceName!)) continue;
      const existing = byResource.get(p.resourceName!) ?? byEngageId.get(engageIdOf(p) ?? '');
      if (!existing) {
        const f = fieldsFromPerson(p);
        const now = new Date();
        fresh.push({
          row: importedRow({ id: randomUUID(), brokerageId: agent.brokerageId, agentId: agent.agentId }, p, f, now),
          fields: f,
          labelIds: labelIds.get(p.resourceName!) ?? [],
        });
        continue;
      }
      if (existing.resourceName && existing.resourceName !== p.resourceName) {
        // Carries our id but we already map that contact elsewhere: a second copy made by a retried create.
        duplicates.push(p.resourceName!);
        continue;
      }
      if (await this.applyLive(existing, p, labelIds.get(p.resourceName!) ?? [], refill)) imported++;
    }
    if (fresh.length) {
      await this.deps.ds.transaction(async (m) => {
        const feed = await changeFeed(m, agent);
        await insertContacts(
          m,
          fresh.map((x) => x.row),
        );
        const items = fresh.map((x) => ({ contact: x.row, fields: x.fields }));
        await insertEmails(m, items);
        await insertTokens(m, items);
        await insertMemberships(
          m,
          fresh.map((x) => ({ contact: x.row, labelIds: x.labelIds })),
        );
        await feed.mark(fresh.map((x) => x.row.id));
      });
      imported += fresh.length;
    }
    if (duplicates.length) await this.removeRemoteDuplicates(agent, duplicates);
    return { imported, removed };
  }

  /**
   * The labels (our ids) each live person is in. A group we do not know yet (created in Google since the last label
   * sync) brings the labels from Google first, once per sync (`ctx`); without a client (persons read outside a
   * sync) or still unknown, it is left out until the next sync that meets it.
   */
  private async labelIdsOf(agent: AgentRef, persons: Person[], ctx?: LabelContext): Promise<Map<string, string[]>> {
    let known = await labelsByResource(this.deps.ds.manager, agent);
    const unknown = persons.some((p) => groupsOf(p).some((g) => !known.has(g) && !SYSTEM_GROUP.test(g)));
    if (unknown && ctx && !ctx.synced) {
      ctx.synced = true;
      ctx.result.calls += (await syncLabels(this.deps.ds, agent, ctx.people)).calls;
      known = await labelsByResource(this.deps.ds.manager, agent);
    }
    return new Map(
      persons.map((p) => [p.resourceName ?? '', groupsOf(p).flatMap((g) => (known.has(g) ? [known.get(g)!.id] : []))]),
    );
  }

  /**
   * Applies Google's current version of a mapped contact. True when the mirror changed. `refill`: the person was
   * read with more fields than the mirror was made with (contact_sync.personFields).
   */
  private async applyLive(existing: Contact, p: Person, labelIds: string[], refill = false): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const c =
        attempt === 0
          ? existing
          : await this.deps.ds.getRepository(Contact).findOneBy({ id: existing.id, brokerageId: existing.brokerageId });
      if (!c) return false;
      if (c.googleEtag === p.etag && c.resourceName === p.resourceName) {
        if (!refill) return false; // our own write coming back, or nothing new
        const done = await this.refill(c, p, labelIds);
        if (done === null) continue;
        return done;
      }
      const theirs = fieldsFromPerson(p);
      const theirsAt = updateTimeOf(p);
      const base = c.person ? fieldsFromPerson(JSON.parse(c.person) as Person) : theirs;
      let patch: Partial<Contact>;
      let pushOurs = false;
      if (!c.resourceName) {
        // Linking: Google has the contact we created (its answer was lost). Keep our state; push it if it moved on.
        pushOurs = !c.deletedAt && JSON.stringify(fieldsOf(c)) !== JSON.stringify(theirs);
        patch = pushOurs
          ? {}
          : { syncedVersion: c.version + 1, ...(c.deletedAt ? {} : { syncState: 'SYNCED' as const, syncError: null }) };
      } else if (c.deletedAt && c.person && sameGoogleContent(JSON.parse(c.person) as Person, p)) {
        // Deleted in the CRM, and Google's only change is a new etag: the guard a delete writes first (its answer
        // lost, or a sync read it before the delivery recorded it). Nothing to restore; the delete goes on.
        patch = {};
      } else if (
        c.deletedAt &&
        c.person &&
        onlyOurChanges(base, fieldsOf(c), theirs, parseUnconfirmed(c.unconfirmed)) &&
        sameGoogleContent(beyondOurFields(JSON.parse(c.person) as Person), beyondOurFields(p))
      ) {
        // Deleted in the CRM, and what changed in Google is an update of ours whose answer was lost (the values the
        // contact had here when it was deleted, or earlier unconfirmed ones): no edit made in Google; the delete goes
        // on.
        patch = {};
      } else if (c.deletedAt) {
        // Deleted in the CRM, edited in Google: the edit wins; the contact comes back.
        patch = {
          ...columnsOf(theirs),
          deletedAt: null,
          syncState: 'SYNCED',
          syncedVersion: c.version + 1,
          conflicts: JSON.stringify([
            { field: 'deleted', ours: 'deleted', theirs: 'edited', winner: 'google', at: new Date().toISOString() },
          ]),
        };
      } else if (c.version > c.syncedVersion && JSON.stringify(fieldsOf(c)) === JSON.stringify(theirs)) {
        // Google already has exactly our pending fields (our write, seen before its answer was recorded).
        patch = { syncState: 'SYNCED', syncedVersion: c.version + 1, syncError: null };
      } else if (c.version > c.syncedVersion) {
        // Edited on both sides: three-way merge; our pending update then carries the result with the fresh etag.
        const { merged, conflicts } = mergeContact(
          base,
          fieldsOf(c),
          theirs,
          c.updatedAt,
          theirsAt,
          new Date(),
          parseUnconfirmed(c.unconfirmed),
        );
        patch = {
          ...columnsOf(merged),
          ...(conflicts.length ? { conflicts: JSON.stringify(conflicts), syncState: 'CONFLICT' as const } : {}),
        };
      } else {
        patch = { ...columnsOf(theirs), syncState: 'SYNCED', syncedVersion: c.version + 1, syncError: null };
      }
      // Google's memberships: followed unless the contact is deleted here (and stays so).
      const labelsFollow = !c.deletedAt || patch.deletedAt === null;
      const ok = await this.deps.ds.transaction(async (m) => {
        const feed = await changeFeed(m, c);
        const labelsChanged = labelsFollow && (await followGoogleMemberships(m, c, labelIds, false));
        if (!labelsChanged && showsTheSame(c, p)) {
          // Nothing a client sees changed (our own label change coming back with a new etag, a photo changed in
          // Google): only what Google last sent is recorded, the contact keeps its version.
          const res = await m
            .getRepository(Contact)
            .update(
              { id: c.id, version: c.version, brokerageId: c.brokerageId },
              { googleEtag: p.etag ?? null, person: JSON.stringify(p), googleUpdatedAt: theirsAt },
            );
          return res.affected ? 'quiet' : false;
        }
        const res = await m.getRepository(Contact).update(
          { id: c.id, version: c.version, brokerageId: c.brokerageId },
          {
            ...patch,
            ...(patch.syncState === 'SYNCED' ? { unconfirmed: null } : {}),
            resourceName: p.resourceName!,
            googleEtag: p.etag ?? null,
            person: JSON.stringify(p),
            googleUpdatedAt: theirsAt,
            version: c.version + 1,
            updatedAt: (c.version > c.syncedVersion && !c.deletedAt) || !c.resourceName ? c.updatedAt : new Date(),
          },
        );
        if (!res.affected) return false;
        const fields = fieldsOf({ ...c, ...patch } as Contact);
        await writeEmails(m, c, fields);
        await replaceTokens(m, [{ contact: c, fields, before: fieldsOf(c) }]);
        if (labelsChanged) await followGoogleMemberships(m, c, labelIds);
        // In Google again (restored: an edit there won over our delete) or linked only now: label changes that
        // waited for it go out.
        if (patch.deletedAt === null || !c.resourceName) await requeueMembers(m, c, { contactIds: [c.id] });
        if (pushOurs) await CONTACTS_OUTBOX.write(m, c, { kind: 'update', entityId: c.id });
        await feed.mark([c.id]);
        return true;
      });
      if (ok === 'quiet') return false;
      if (ok) {
        if (pushOurs) this.deps.outbox.kick(CONTACTS_OUTBOX, c);
        return true;
      }
    }
    throw new Error(`contact ${existing.id} kept changing during import`);
  }

  /**
   * Persons Google re-stamped with nothing we show changed (our own label change coming back with new etags, a photo
   * changed in Google), recorded in one transaction: only what Google last sent, the contacts keep their versions and
   * stay out of the change feed. The resource names done; the rest go through applyLive.
   */
  private async applyQuiet(
    agent: AgentRef,
    items: { c: Contact; p: Person; labelIds: string[] }[],
  ): Promise<Set<string>> {
    const candidates = items.filter(({ c, p }) => c.googleEtag !== p.etag && showsTheSame(c, p));
    const done = new Set<string>();
    if (candidates.length === 0) return done;
    await this.deps.ds.transaction(async (m) => {
      // the agent's lock first, as every contact write: rows are then taken one writer at a time
      await changeFeed(m, agent);
      const moved = await followGoogleMembershipsOf(
        m,
        agent,
        candidates.map(({ c, labelIds }) => ({ contactId: c.id, labelIds })),
        false,
      );
      for (const { c, p } of candidates) {
        if (moved.has(c.id)) continue;
        const res = await m
          .getRepository(Contact)
          .update(
            { id: c.id, version: c.version, brokerageId: c.brokerageId },
            { googleEtag: p.etag ?? null, person: JSON.stringify(p), googleUpdatedAt: updateTimeOf(p) },
          );
        if (res.affected) done.add(p.resourceName!);
      }
    });
    return done;
  }

  /**
   * A contact Google did not change since we last saw it (same etag), read now with fields the mirror was made
   * without: those fields come from Google, the rest stays ours. As a three-way merge with the person as we saw it
   * for base: a field it lacked is one Google "changed" and ours did not, every other field is Google's as before.
   * Null when the row changed meanwhile (tried again); true when the mirror changed.
   */
  private async refill(c: Contact, p: Person, labelIds: string[]): Promise<boolean | null> {
    const theirs = fieldsFromPerson(p);
    const ours = fieldsOf(c);
    const base = c.person ? fieldsFromPerson(JSON.parse(c.person) as Person) : theirs;
    const { merged } = mergeContact(base, ours, theirs, c.updatedAt, updateTimeOf(p));
    // Nothing to fill in (a contact of ours, recorded from Google's answer with every field): no transaction at all.
    if (
      c.person === JSON.stringify(p) &&
      JSON.stringify(merged) === JSON.stringify(ours) &&
      !(await followGoogleMemberships(this.deps.ds.manager, c, labelIds, false))
    )
      return false;
    return this.deps.ds.transaction(async (m) => {
      const feed = await changeFeed(m, c);
      const changed =
        !c.deletedAt &&
        (JSON.stringify(merged) !== JSON.stringify(ours) || (await followGoogleMemberships(m, c, labelIds, false)));
      const res = await m.getRepository(Contact).update(
        { id: c.id, version: c.version, brokerageId: c.brokerageId },
        {
          person: JSON.stringify(p),
          ...(changed
            ? {
                ...columnsOf(merged),
                version: c.version + 1,
                ...(c.version === c.syncedVersion ? { syncedVersion: c.version + 1 } : {}),
              }
            : {}),
        },
      );
      if (!res.affected) return null;
      if (!changed) return false;
      await replaceTokens(m, [{ contact: c, fields: merged, before: ours }]);
      await followGoogleMemberships(m, c, labelIds);
      await feed.mark([c.id]);
      return true;
    });
  }

  /** Google no longer has `resourceName`. True when the mirror changed. */
  async applyDeleted(agent: AgentRef, resourceName: string): Promise<boolean> {
    const found = await this.deps.ds
      .getRepository(Contact)
      .findOneBy({ agentId: agent.agentId, brokerageId: agent.brokerageId, resourceName });
    if (!found) return false;
    for (let attempt = 0; attempt < 5; attempt++) {
      // Judged and acted on in one transaction, the delete guarded by the version judged: a CRM edit committed
      // between a look and the delete used to be deleted with the row (the README promises the edit wins).
      const outcome = await this.deps.ds.transaction(async (m) => {
        const feed = await changeFeed(m, agent);
        const repo = m.getRepository(Contact);
        const c = await repo.findOneBy({ id: found.id, brokerageId: found.brokerageId });
        if (!c || c.resourceName !== resourceName) return 'gone' as const;
        if (!c.deletedAt && c.version > c.syncedVersion) {
          // Deleted in Google, edited in the CRM: the edit wins and re-creates the contact in Google.
          const res = await repo.update(
            { id: c.id, version: c.version, brokerageId: c.brokerageId },
            {
              resourceName: null,
              googleEtag: null,
              person: null,
              syncedVersion: 0,
              syncState: 'PENDING',
              conflicts: JSON.stringify([
                { field: 'deleted', ours: 'edited', theirs: 'deleted', winner: 'crm', at: new Date().toISOString() },
              ]),
            },
          );
          if (!res.affected) return 'changed' as const;
          await reclaimMemberships(m, c); // its labels go back with it (Google's copy is gone, and with it its groups)
          await CONTACTS_OUTBOX.write(m, agent, { kind: 'create', entityId: c.id });
          await feed.mark([c.id]);
          return 'recreated' as const;
        }
        // Claims the row at the version judged (a write that matches nothing means an edit got in first), then removes
        // it.
        const claimed = await repo.update(
          { id: c.id, version: c.version, brokerageId: c.brokerageId },
          { updatedAt: new Date() },
        );
        if (!claimed.affected) return 'changed' as const;
        await removeContacts(m, c, feed, [c.id]);
        return 'removed' as const;
      });
      if (outcome === 'changed') continue;
      if (outcome === 'recreated') this.deps.outbox.kick(CONTACTS_OUTBOX, agent);
      return outcome !== 'gone';
    }
    return false;
  }

  private async removeRemoteDuplicates(agent: AgentRef, resourceNames: string[]): Promise<void> {
    this.deps.log.warn(
      { agentId: agent.agentId, resourceNames },
      'Google has extra copies of contacts we created (a retried create); deleting them',
    );
    await this.deps.ds.transaction((m) =>
      CONTACTS_OUTBOX.write(
        m,
        agent,
        resourceNames.map((rn) => ({ kind: 'delete-copy' as const, entityId: rn })),
      ),
    );
    this.deps.outbox.kick(CONTACTS_OUTBOX, agent);
  }
}

/**
 * What an update of ours leaves as it was: every person field it does not write, and, within those it writes, the
 * details it carries over unchanged (personFromFields: a name's phonetic parts, the first organization's department
 * and type, further organizations).
 */
function beyondOurFields(p: Person): Person {
  const {
    names,
    nicknames: _n,
    emailAddresses: _e,
    phoneNumbers: _p,
    addresses: _a,
    organizations,
    biographies: _b,
    birthdays: _bd,
    events: _ev,
    relations: _r,
    urls: _u,
    ...rest
  } = p;
  const name = primaryFirst(names)[0] ?? {};
  const orgs = primaryFirst(organizations);
  const keep = <T extends object>(o: T, keys: string[]) =>
    Object.fromEntries(
      Object.entries(o).filter(([k, v]) => keys.includes(k) && v !== null && v !== undefined && v !== ''),
    );
  return {
    ...rest,
    names: [keep(name, PHONETIC_NAME_PARTS)],
    organizations: [keep(orgs[0] ?? {}, ['department', 'type']), ...orgs.slice(1)],
  } as Person;
}

/**
 * Whether Google's person, for a mapped contact with no change of ours on its way, holds the fields the contact shows
 * (labels aside): a new etag from it changes nothing a client sees (applyQuiet, applyLive).
 */
function showsTheSame(c: Contact, p: Person): boolean {
  return (
    c.resourceName === p.resourceName &&
    !c.deletedAt &&
    c.version === c.syncedVersion &&
    JSON.stringify(fieldsOf(c)) === JSON.stringify(fieldsFromPerson(p))
  );
}

/**
 * Whether two versions of a Person hold the same data: etags and metadata (sources, update times) aside. A write of
 * unchanged data (the guard before a delete) gives a new etag and nothing else.
 */
function sameGoogleContent(a: Person, b: Person): boolean {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v)
          .filter(([k]) => k !== 'etag' && k !== 'metadata')
          .map(([k, x]) => [k, strip(x)]),
      );
    return v;
  };
  // Memberships aside: Google re-stamps a contact for every label change, ours (members.modify, a label deleted)
  // included, and a label change is no edit that should bring back a contact deleted here.
  const { memberships: _ma, ...ra } = a;
  const { memberships: _mb, ...rb } = b;
  return JSON.stringify(strip(ra)) === JSON.stringify(strip(rb));
}
