/**
 * Google → CRM: keeps an agent's contact mirror equal to Google's contacts.
 *
 * - First sync: a full `connections.list` (pageSize 1000, requestSyncToken).
 *   Later: incremental with the sync token (the same parameters, as People
 *   requires). Deleted contacts (`metadata.deleted`) become deletions.
 * - An expired sync token (People answers 400 EXPIRED_SYNC_TOKEN, not
 *   Calendar's 410) triggers a full resync with mark and sweep: every mirrored
 *   contact Google no longer lists is removed, so deletes are never lost. It
 *   is recorded in contact_sync (fullResyncs, lastFullResyncAt/Reason).
 * - Imports are idempotent: a contact is found by resourceName, or by our id
 *   in clientData (a create whose answer was lost), so nothing is duplicated;
 *   our own writes coming back (same etag) change nothing.
 * - A contact edited in the CRM and not yet delivered is merged three ways
 *   (merge.ts); deleted in Google but edited in the CRM, or deleted in the
 *   CRM but edited in Google: the edit wins (re-created, or restored).
 * - One sync per agent at a time in this process (single-flight), so 100
 *   concurrent reads cause at most one call.
 */
import { parseUnconfirmed } from '../outbox/unconfirmed';
import { randomUUID } from 'node:crypto';
import type { people_v1 } from '@googleapis/people';
import type { DataSource, EntityManager } from 'typeorm';
import { In, IsNull, Not } from 'typeorm';
import { batches } from '../db/batches';
import { Contact, ContactEmail, ContactLabelMember, ContactSyncRecord, ContactTombstone } from '../entities';
import { EMAIL_LENGTH } from '../entities/columns';
import { AppError, ErrorCode } from '../errors';
import { NO_SYNC_ERROR, syncErrorColumns } from '../google/feature-health';
import { isTokenRejected, mapGoogleError } from '../google/google-errors';
import type { GoogleSessions } from '../google/google-sessions';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics/metrics';
import { CONTACTS_OUTBOX } from '../outbox/topics';
import type { OutboxWorker } from '../outbox/worker';
import type { AgentKey, AgentRef } from '../agents/agent-ref';
import { changeFeed, pruneTombstones, type FeedWrite } from './contact-changes';
import { followGoogleMemberships, followGoogleMembershipsOf, groupsOf, insertMemberships, labelsByResource, reclaimMemberships, requeueMembers, syncLabels } from './contact-labels';
import { mergeContact, onlyOurChanges } from './merge';
import { DETAIL_FIELDS, PHONETIC_NAME_PARTS, displayNameOf, engageIdOf, fieldsFromPerson, PERSON_FIELDS, primaryFirst, searchTextOf, updateTimeOf, type ContactDetails, type ContactFields } from './person.mapper';

/** People connections.list pageSize maximum (v1 docs: "between 1 and 1000, inclusive"). */
export const SYNC_PAGE_SIZE = 1000;
/** People getBatchGet resourceNames maximum (v1 docs: "max 200"). */
export const BATCH_GET_MAX = 200;
/** How often the tombstone sweep runs in each process (replicas may overlap: deleting twice is harmless), and its round. */
const PRUNE_EVERY_MS = 3600_000;
const PRUNE_AGENTS_PER_ROUND = 100;
/** Agents whose last sync end ensureFresh remembers (a bound: older ones are simply asked the database again). */
const MAX_FINISHED_REMEMBERED = 10_000;

/** Google's system groups: known from the first (full) sync on, or deprecated and no label of ours; never looked up. */
const SYSTEM_GROUP = /^contactGroups\/(friends|family|coworkers|chatBuddies|all|blocked|myContacts|starred)$/;

/** What a sync's import needs to bring unknown groups from Google: the client, and whether it did already. */
interface LabelContext {
  people: people_v1.People;
  result: SyncResult;
  synced?: boolean;
}

export interface SyncResult {
  kind: 'full' | 'incremental';
  calls: number;
  imported: number;
  removed: number;
}

type Person = people_v1.Schema$Person;

export function contactRow(base: Partial<Contact> & Pick<Contact, 'id' | 'brokerageId' | 'agentId'>, f: ContactFields, now: Date): Contact {
  return {
    resourceName: null,
    googleEtag: null,
    version: 1,
    syncedVersion: 0,
    person: null,
    syncState: 'PENDING',
    syncError: null,
    conflicts: null,
    googleUpdatedAt: null,
    deletedAt: null,
    changeSeq: 0,
    createdAt: now,
    updatedAt: now,
    ...base,
    ...columnsOf(f),
  } as Contact;
}

/** The mirror columns derived from a contact's fields. */
export function columnsOf(f: ContactFields): Pick<Contact, 'givenName' | 'familyName' | 'organization' | 'jobTitle' | 'notes' | 'emails' | 'phones' | 'details' | 'sortKey' | 'searchText'> {
  return {
    givenName: f.givenName,
    familyName: f.familyName,
    organization: f.organization,
    jobTitle: f.jobTitle,
    notes: f.notes,
    emails: JSON.stringify(f.emails),
    phones: JSON.stringify(f.phones),
    details: detailsColumn(f),
    sortKey: displayNameOf(f).toLowerCase().slice(0, 200),
    searchText: searchTextOf(f),
  };
}

/** The `details` column: JSON of the DETAIL_FIELDS a contact has (empty ones left out); null when it has none. */
function detailsColumn(f: ContactFields): string | null {
  const set = DETAIL_FIELDS.filter((k) => (Array.isArray(f[k]) ? (f[k] as unknown[]).length > 0 : f[k] !== null));
  return set.length ? JSON.stringify(Object.fromEntries(set.map((k) => [k, f[k]]))) : null;
}

export const NO_DETAILS: ContactDetails = { middleName: null, honorificPrefix: null, honorificSuffix: null, nicknames: [], addresses: [], birthday: null, events: [], relations: [], urls: [] };

export function fieldsOf(c: Contact): ContactFields {
  const details = c.details ? (JSON.parse(c.details) as Partial<ContactDetails>) : {};
  return {
    givenName: c.givenName,
    familyName: c.familyName,
    organization: c.organization,
    jobTitle: c.jobTitle,
    notes: c.notes,
    emails: JSON.parse(c.emails),
    phones: JSON.parse(c.phones),
    // In DETAIL_FIELDS' order whatever the stored JSON's: fields are compared as JSON.
    ...Object.fromEntries(DETAIL_FIELDS.map((k) => [k, details[k] ?? NO_DETAILS[k]])),
  } as ContactFields;
}

/**
 * Inserts new mirror rows, 200 a statement. Not read back (updateEntity(false)): for a column with a database default
 * (changeSeq) TypeORM selects the rows again and merges the i-th row it gets into the i-th entity given, whatever
 * order the database answered in, primary key included, so the ids of the entities passed in got shuffled (the
 * contacts' email index then pointed at one another; seen on SQLite). Every column is given here anyway.
 */
export async function insertContacts(m: EntityManager, rows: Contact[]): Promise<void> {
  for (const batch of batches(rows, 200)) await m.createQueryBuilder().insert().into(Contact).values(batch).updateEntity(false).execute();
}

/** Index rows of new contacts (no previous rows to remove), in multi-row inserts. */
export async function insertEmails(m: EntityManager, items: { contact: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>; fields: ContactFields }[]): Promise<void> {
  // A value longer than an address can be (Google keeps any text as an email) is not indexed: no mail goes to it.
  const rows = items.flatMap(({ contact, fields }) => [...new Set(fields.emails.map((e) => e.value.toLowerCase()))].filter((email) => email.length <= EMAIL_LENGTH).map((email) => ({ contactId: contact.id, email, agentId: contact.agentId, brokerageId: contact.brokerageId })));
  // orIgnore: MySQL's utf8mb4_unicode_ci holds "anna.müller@" and "anna.muller@" (or ß and ss) equal, so a second
  // one of a contact would break the key and fail the sync page for good; the index needs it once.
  for (let i = 0; i < rows.length; i += 500) await m.createQueryBuilder().insert().into(ContactEmail).values(rows.slice(i, i + 500)).orIgnore().execute();
}

/** Replaces a contact's index rows. */
export async function writeEmails(m: EntityManager, c: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>, f: ContactFields): Promise<void> {
  await m.getRepository(ContactEmail).delete({ contactId: c.id, brokerageId: c.brokerageId });
  await insertEmails(m, [{ contact: c, fields: f }]);
}

/**
 * Removes contacts from the mirror, leaving a tombstone of each (its id and when: contact-tombstone.entity.ts), each
 * at a feed position of its own reserved by the transaction (`feed`: taken first in it, contact-changes.ts).
 */
export async function removeContacts(m: EntityManager, agent: AgentKey, feed: FeedWrite, ids: string[], now = new Date()): Promise<void> {
  const { brokerageId, agentId } = agent;
  for (let i = 0; i < ids.length; i += 500) {
    const slice = ids.slice(i, i + 500);
    await m.getRepository(ContactEmail).delete({ contactId: In(slice), brokerageId });
    await m.getRepository(ContactLabelMember).delete({ contactId: In(slice), brokerageId, agentId });
    await m.getRepository(Contact).delete({ id: In(slice), brokerageId, agentId });
  }
  const first = await feed.reserve(ids.length); // a position each (contact-changes.ts)
  for (let i = 0; i < ids.length; i += 500) {
    await m.createQueryBuilder().insert().into(ContactTombstone).values(ids.slice(i, i + 500).map((contactId, j) => ({ contactId, brokerageId, agentId, changeSeq: first + i + j, deletedAt: now }))).orIgnore().execute();
  }
}

export class ContactSync {
  private readonly inflight = new Map<string, Promise<SyncResult>>();
  private readonly labelsInflight = new Map<string, Promise<void>>();
  /** When each agent's last sync in this process ended (ms), for ensureFresh; the most recent agents only. */
  private readonly finished = new Map<string, number>();

  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<number> | null = null;

  constructor(
    private readonly deps: { ds: DataSource; sessions: GoogleSessions; outbox: OutboxWorker; log: Logger; metrics?: Metrics; /** tombstones kept (contactChanges) */ retentionMs?: number },
  ) {}

  /** Starts the hourly sweep of tombstones past the retention, for agents that no longer sync (each sync prunes its agent's). */
  start(): void {
    if (this.timer || !this.deps.retentionMs) return;
    this.timer = setInterval(() => {
      this.prune().catch((err) => this.deps.log.warn({ err }, 'contact change feed: the retention sweep failed; it runs again in an hour'));
    }, PRUNE_EVERY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sweeping?.catch(() => undefined);
  }

  /** Deletes tombstones past the retention, PRUNE_AGENTS_PER_ROUND agents a round; resolves to how many went. One sweep at a time. */
  prune(now = new Date()): Promise<number> {
    const retentionMs = this.deps.retentionMs;
    if (!retentionMs) return Promise.resolve(0);
    this.sweeping ??= (async () => {
      let removed = 0;
      for (;;) {
        const agents: { agentId: string; brokerageId: string }[] = await this.deps.ds.getRepository(ContactTombstone).createQueryBuilder('t').select('t.agentId', 'agentId').addSelect('t.brokerageId', 'brokerageId').distinct(true).where('t.deletedAt < :cutoff', { cutoff: new Date(now.getTime() - retentionMs) }).limit(PRUNE_AGENTS_PER_ROUND).getRawMany();
        let round = 0;
        for (const a of agents) round += await pruneTombstones(this.deps.ds, a, retentionMs, now);
        removed += round;
        if (agents.length < PRUNE_AGENTS_PER_ROUND || round === 0) return removed;
      }
    })().finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  async record(agent: AgentKey): Promise<ContactSyncRecord> {
    const repo = this.deps.ds.getRepository(ContactSyncRecord);
    const found = await repo.findOneBy({ agentId: agent.agentId, brokerageId: agent.brokerageId });
    if (found) return found;
    const fresh: ContactSyncRecord = { agentId: agent.agentId, brokerageId: agent.brokerageId, personFields: null, syncToken: null, groupSyncToken: null, groupsSyncedAt: null, lastSyncAt: null, lastFullSyncAt: null, staleSince: null, ...NO_SYNC_ERROR, fullResyncs: 0, lastFullResyncAt: null, lastFullResyncReason: null, changesPrunedThrough: 0 };
    // Not read back (updateEntity(false)): TypeORM would select the defaulted columns by primary key alone, not naming
    // the brokerage. A concurrent first sync may have inserted it: the row is read below anyway.
    await repo.createQueryBuilder().insert().values(fresh).updateEntity(false).execute().catch(() => undefined);
    return (await repo.findOneBy({ agentId: agent.agentId, brokerageId: agent.brokerageId }))!;
  }

  /** Makes the mirror fresh if the last sync is older than `maxAgeMs`; never fails a read (staleness is recorded). */
  async ensureFresh(agent: AgentRef, maxAgeMs: number): Promise<void> {
    const looked = Date.now();
    const rec = await this.record(agent);
    if (rec.lastSyncAt && Date.now() - rec.lastSyncAt.getTime() < maxAgeMs) return;
    // A sync of this agent that ended after this look answered it (made the mirror fresh, or just failed): another
    // call now would be a second one for the same staleness. Before, of 100 concurrent reads of a stale mirror, one
    // that read the record before the first sync wrote lastSyncAt, and asked after that sync had ended, started a second.
    if ((this.finished.get(agent.agentId) ?? 0) >= looked) return;
    await this.sync(agent).catch((err) => {
      if (!(err instanceof AppError)) this.deps.log.warn({ err, agentId: agent.agentId }, 'contact sync failed; serving the mirror');
    });
  }

  /**
   * Makes the labels fresh: a label sync (contactGroups.list, incremental with its token) when the last one is older
   * than `maxAgeMs`; the contacts first, as ensureFresh (their memberships). Single-flight per agent; never fails a
   * read (a failure is logged, and the labels are served as they are).
   */
  async ensureLabelsFresh(agent: AgentRef, maxAgeMs: number): Promise<void> {
    const looked = Date.now();
    await this.ensureFresh(agent, maxAgeMs);
    const rec = await this.record(agent);
    // Fresh enough, or synced since this look (by the contacts' full sync just now): a second call would be the same.
    if (rec.groupsSyncedAt && (Date.now() - rec.groupsSyncedAt.getTime() < maxAgeMs || rec.groupsSyncedAt.getTime() >= looked)) return;
    let running = this.labelsInflight.get(agent.agentId);
    if (!running) {
      running = (async () => {
        const session = await this.deps.sessions.forAgent(agent.brokerageId, agent.email);
        await syncLabels(this.deps.ds, agent, await session.people(), !rec.groupSyncToken);
      })().finally(() => this.labelsInflight.delete(agent.agentId));
      this.labelsInflight.set(agent.agentId, running);
    }
    await running.catch((err) => {
      if (!(err instanceof AppError)) this.deps.log.warn({ err, agentId: agent.agentId }, 'label sync failed; serving the labels as they are');
    });
  }

  /** Whether the agent's mirror was made with other person fields than ours (an older release): a full sync is due. */
  async needsRefill(agent: AgentKey): Promise<boolean> {
    const rec = await this.deps.ds.getRepository(ContactSyncRecord).findOne({ where: { agentId: agent.agentId, brokerageId: agent.brokerageId }, select: { agentId: true, personFields: true, syncToken: true } });
    // No record, or no sync yet: nothing in the mirror came from Google with fewer fields.
    return Boolean(rec?.syncToken) && rec!.personFields !== PERSON_FIELDS;
  }

  /** A label sync now (incremental, or full before the first), for a delivery that must know Google's groups. */
  async syncLabelsNow(agent: AgentKey, people: people_v1.People): Promise<void> {
    const rec = await this.record(agent);
    await syncLabels(this.deps.ds, agent, people, !rec.groupSyncToken);
  }

  /** One sync (incremental, or full when needed); concurrent callers share it. */
  sync(agent: AgentRef): Promise<SyncResult> {
    const running = this.inflight.get(agent.agentId);
    if (running) return running;
    const p = this.run(agent).finally(() => {
      this.inflight.delete(agent.agentId);
      this.finished.delete(agent.agentId); // re-inserted last: the map's order is oldest first
      this.finished.set(agent.agentId, Date.now());
      if (this.finished.size > MAX_FINISHED_REMEMBERED) this.finished.delete(this.finished.keys().next().value!);
    });
    this.inflight.set(agent.agentId, p);
    return p;
  }

  /**
   * A sync that starts after this call. Joining one already under way could miss a change made just before
   * the call, which a delivery must see before it acts (a Google edit that cancels a delete).
   */
  async syncFresh(agent: AgentRef): Promise<SyncResult> {
    const running = this.inflight.get(agent.agentId);
    if (running) await running.catch(() => undefined);
    return this.sync(agent);
  }

  /** `fresh`: a retry after Google rejected our access token (401): at most one per sync. */
  private async run(agent: AgentRef, fresh = false): Promise<SyncResult> {
    const rec = await this.record(agent);
    const session = await this.deps.sessions.forAgent(agent.brokerageId, agent.email);
    try {
      const people = await session.people();
      let result: SyncResult;
      if (rec.syncToken && rec.personFields === PERSON_FIELDS) {
        try {
          result = await this.incremental(agent, people, rec.syncToken);
        } catch (err) {
          if (mapGoogleError(err, { api: 'people' }).kind !== 'sync-token-expired') throw err;
          this.deps.log.info({ agentId: agent.agentId }, 'contacts sync token expired: full resync with mark and sweep');
          this.deps.metrics?.fullResyncs.inc({ api: 'people' });
          result = await this.full(agent, people, 'EXPIRED_SYNC_TOKEN');
        }
      } else {
        // First sync, or the mirror was made with fewer personFields (an older release): a full sync, which also
        // fills in the fields the mirror lacks for contacts Google did not change since (refill).
        result = await this.full(agent, people, null);
      }
      await this.deps.ds.getRepository(ContactSyncRecord).update({ agentId: agent.agentId, brokerageId: agent.brokerageId }, { lastSyncAt: new Date(), staleSince: null, ...NO_SYNC_ERROR });
      // The agent's tombstones past the retention (contactChanges): a failure here is no failure of the sync.
      if (this.deps.retentionMs) await pruneTombstones(this.deps.ds, agent, this.deps.retentionMs).catch((err) => this.deps.log.warn({ err, agentId: agent.agentId }, 'contact change feed: pruning tombstones failed; the sweep tries again'));
      this.deps.metrics?.syncSucceeded('people');
      return result;
    } catch (err) {
      const appErr = err instanceof AppError ? err : session.toAppError(err, 'contacts');
      // Google no longer takes the token (toAppError dropped it): once more with a new one, from the sync's start
      // (the sync token only moves when a sync completes, and importing a page twice changes nothing).
      if (!fresh && isTokenRejected(appErr)) return this.run(agent, true);
      if (appErr.extensions.code === ErrorCode.INTERNAL_SERVER_ERROR) this.deps.log.error({ err, agentId: agent.agentId }, 'contacts sync failed on our side');
      await this.deps.ds.getRepository(ContactSyncRecord).update({ agentId: agent.agentId, brokerageId: agent.brokerageId }, { staleSince: rec.staleSince ?? new Date(), ...syncErrorColumns(appErr) });
      throw appErr;
    }
  }

  private async incremental(agent: AgentRef, people: people_v1.People, syncToken: string): Promise<SyncResult> {
    const result: SyncResult = { kind: 'incremental', calls: 0, imported: 0, removed: 0 };
    let pageToken: string | undefined;
    let next: string | undefined;
    do {
      const res = await people.people.connections.list({ resourceName: 'people/me', personFields: PERSON_FIELDS, pageSize: SYNC_PAGE_SIZE, requestSyncToken: true, syncToken, pageToken });
      result.calls++;
      const counts = await this.importPage(agent, res.data.connections ?? [], { people, result });
      result.imported += counts.imported;
      result.removed += counts.removed;
      pageToken = res.data.nextPageToken ?? undefined;
      next = res.data.nextSyncToken ?? next;
    } while (pageToken);
    if (next) await this.deps.ds.getRepository(ContactSyncRecord).update({ agentId: agent.agentId, brokerageId: agent.brokerageId }, { syncToken: next });
    return result;
  }

  private async full(agent: AgentRef, people: people_v1.People, reason: string | null): Promise<SyncResult> {
    const result: SyncResult = { kind: 'full', calls: 0, imported: 0, removed: 0 };
    const refill = (await this.record(agent)).personFields !== PERSON_FIELDS;
    // The labels first, all of them: the persons' memberships name them.
    result.calls += (await syncLabels(this.deps.ds, agent, people, true)).calls;
    const labels = { people, result, synced: true };
    const seen = new Set<string>();
    let pageToken: string | undefined;
    let next: string | undefined;
    do {
      const res = await people.people.connections.list({ resourceName: 'people/me', personFields: PERSON_FIELDS, pageSize: SYNC_PAGE_SIZE, requestSyncToken: true, pageToken });
      result.calls++;
      const persons = res.data.connections ?? [];
      for (const p of persons) if (p.resourceName && !p.metadata?.deleted) seen.add(p.resourceName);
      result.imported += (await this.importPage(agent, persons, labels, refill)).imported;
      pageToken = res.data.nextPageToken ?? undefined;
      next = res.data.nextSyncToken ?? next;
    } while (pageToken);
    const swept = await this.sweep(agent, people, seen);
    result.removed = swept.removed;
    result.calls += swept.calls;
    const now = new Date();
    const rec = await this.record(agent);
    await this.deps.ds.getRepository(ContactSyncRecord).update(
      { agentId: agent.agentId, brokerageId: agent.brokerageId },
      {
        syncToken: next ?? null,
        personFields: PERSON_FIELDS,
        lastFullSyncAt: now,
        ...(reason ? { fullResyncs: rec.fullResyncs + 1, lastFullResyncAt: now, lastFullResyncReason: reason } : {}),
      },
    );
    return result;
  }

  /**
   * Mark and sweep: mirrored contacts a full sync did not list are gone from Google. A contact our outbox
   * created while the pages were being read is not listed either, so candidates are confirmed with
   * getBatchGet (200 per call) and only those Google answers 404 for are removed.
   */
  private async sweep(agent: AgentRef, people: people_v1.People, seen: Set<string>): Promise<{ removed: number; calls: number }> {
    const mapped = await this.deps.ds.getRepository(Contact).find({ where: { agentId: agent.agentId, brokerageId: agent.brokerageId, resourceName: Not(IsNull()) }, select: { id: true, resourceName: true } });
    const candidates = mapped.filter((c) => !seen.has(c.resourceName!)).map((c) => c.resourceName!);
    let removed = 0;
    let calls = 0;
    for (let i = 0; i < candidates.length; i += BATCH_GET_MAX) {
      const slice = candidates.slice(i, i + BATCH_GET_MAX);
      const res = await people.people.getBatchGet({ resourceNames: slice, personFields: 'metadata' });
      calls++;
      const alive = new Set((res.data.responses ?? []).filter((r) => r.person && !r.person.metadata?.deleted && r.httpStatusCode !== 404).map((r) => r.requestedResourceName ?? r.person!.resourceName!));
      for (const rn of slice) if (!alive.has(rn) && (await this.applyDeleted(agent, rn))) removed++;
    }
    return { removed, calls };
  }

  /** Imports one page of persons; returns how many contacts changed and were removed. */
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
    return new Map(persons.map((p) => [p.resourceName ?? '', groupsOf(p).flatMap((g) => (known.has(g) ? [known.get(g)!.id] : []))]));
  }

  private async importPage(agent: AgentRef, persons: Person[], labels?: LabelContext, refill = false): Promise<{ imported: number; removed: number }> {
    let imported = 0;
    let removed = 0;
    const live = persons.filter((p) => p.resourceName && !p.metadata?.deleted);
    for (const p of persons) if (p.resourceName && p.metadata?.deleted && (await this.applyDeleted(agent, p.resourceName))) removed++;
    if (live.length === 0) return { imported, removed };
    const labelIds = await this.labelIdsOf(agent, live, labels);

    const repo = this.deps.ds.getRepository(Contact);
    const byResource = new Map((await repo.find({ where: { agentId: agent.agentId, brokerageId: agent.brokerageId, resourceName: In(live.map((p) => p.resourceName!)) } })).map((c) => [c.resourceName!, c]));
    const engageIds = live.filter((p) => !byResource.has(p.resourceName!)).map(engageIdOf).filter((x): x is string => Boolean(x));
    const byEngageId = new Map(engageIds.length ? (await repo.find({ where: { agentId: agent.agentId, brokerageId: agent.brokerageId, id: In(engageIds) } })).map((c) => [c.id, c]) : []);

    const quiet = await this.applyQuiet(agent, live.flatMap((p) => {
      const c = byResource.get(p.resourceName!);
      return c ? [{ c, p, labelIds: labelIds.get(p.resourceName!) ?? [] }] : [];
    }));
    const fresh: { row: Contact; fields: ContactFields; labelIds: string[] }[] = [];
    const duplicates: string[] = [];
    for (const p of live) {
      if (quiet.has(p.resourceName!)) continue;
      const existing = byResource.get(p.resourceName!) ?? byEngageId.get(engageIdOf(p) ?? '');
      if (!existing) {
        const f = fieldsFromPerson(p);
        const now = new Date();
        fresh.push({ row: contactRow({ id: randomUUID(), brokerageId: agent.brokerageId, agentId: agent.agentId, resourceName: p.resourceName!, googleEtag: p.etag ?? null, person: JSON.stringify(p), version: 1, syncedVersion: 1, syncState: 'SYNCED', googleUpdatedAt: updateTimeOf(p) }, f, now), fields: f, labelIds: labelIds.get(p.resourceName!) ?? [] });
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
        await insertContacts(m, fresh.map((x) => x.row));
        await insertEmails(m, fresh.map((x) => ({ contact: x.row, fields: x.fields })));
        await insertMemberships(m, fresh.map((x) => ({ contact: x.row, labelIds: x.labelIds })));
        await feed.mark(fresh.map((x) => x.row.id));
      });
      imported += fresh.length;
    }
    if (duplicates.length) await this.removeRemoteDuplicates(agent, duplicates);
    return { imported, removed };
  }

  /**
   * Applies Google's current version of a mapped contact. True when the mirror changed. `refill`: the person was
   * read with more fields than the mirror was made with (contact_sync.personFields).
   */
  private async applyLive(existing: Contact, p: Person, labelIds: string[], refill = false): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const c = attempt === 0 ? existing : await this.deps.ds.getRepository(Contact).findOneBy({ id: existing.id, brokerageId: existing.brokerageId });
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
        patch = pushOurs ? {} : { syncedVersion: c.version + 1, ...(c.deletedAt ? {} : { syncState: 'SYNCED' as const, syncError: null }) };
      } else if (c.deletedAt && c.person && sameGoogleContent(JSON.parse(c.person) as Person, p)) {
        // Deleted in the CRM, and Google's only change is a new etag: the guard a delete writes first (its answer
        // lost, or a sync read it before the delivery recorded it). Nothing to restore; the delete goes on.
        patch = {};
      } else if (c.deletedAt && c.person && onlyOurChanges(base, fieldsOf(c), theirs, parseUnconfirmed(c.unconfirmed)) && sameGoogleContent(beyondOurFields(JSON.parse(c.person) as Person), beyondOurFields(p))) {
        // Deleted in the CRM, and what changed in Google is an update of ours whose answer was lost (the values the
        // contact had here when it was deleted, or earlier unconfirmed ones): no edit made in Google; the delete goes on.
        patch = {};
      } else if (c.deletedAt) {
        // Deleted in the CRM, edited in Google: the edit wins; the contact comes back.
        patch = { ...columnsOf(theirs), deletedAt: null, syncState: 'SYNCED', syncedVersion: c.version + 1, conflicts: JSON.stringify([{ field: 'deleted', ours: 'deleted', theirs: 'edited', winner: 'google', at: new Date().toISOString() }]) };
      } else if (c.version > c.syncedVersion && JSON.stringify(fieldsOf(c)) === JSON.stringify(theirs)) {
        // Google already has exactly our pending fields (our write, seen before its answer was recorded).
        patch = { syncState: 'SYNCED', syncedVersion: c.version + 1, syncError: null };
      } else if (c.version > c.syncedVersion) {
        // Edited on both sides: three-way merge; our pending update then carries the result with the fresh etag.
        const { merged, conflicts } = mergeContact(base, fieldsOf(c), theirs, c.updatedAt, theirsAt, new Date(), parseUnconfirmed(c.unconfirmed));
        patch = { ...columnsOf(merged), ...(conflicts.length ? { conflicts: JSON.stringify(conflicts), syncState: 'CONFLICT' as const } : {}) };
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
          const res = await m.getRepository(Contact).update({ id: c.id, version: c.version, brokerageId: c.brokerageId }, { googleEtag: p.etag ?? null, person: JSON.stringify(p), googleUpdatedAt: theirsAt });
          return res.affected ? 'quiet' : false;
        }
        const res = await m.getRepository(Contact).update(
          { id: c.id, version: c.version, brokerageId: c.brokerageId },
          { ...patch, ...(patch.syncState === 'SYNCED' ? { unconfirmed: null } : {}), resourceName: p.resourceName!, googleEtag: p.etag ?? null, person: JSON.stringify(p), googleUpdatedAt: theirsAt, version: c.version + 1, updatedAt: (c.version > c.syncedVersion && !c.deletedAt) || !c.resourceName ? c.updatedAt : new Date() },
        );
        if (!res.affected) return false;
        const fields = fieldsOf({ ...c, ...patch } as Contact);
        await writeEmails(m, c, fields);
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
  private async applyQuiet(agent: AgentRef, items: { c: Contact; p: Person; labelIds: string[] }[]): Promise<Set<string>> {
    const candidates = items.filter(({ c, p }) => c.googleEtag !== p.etag && showsTheSame(c, p));
    const done = new Set<string>();
    if (candidates.length === 0) return done;
    await this.deps.ds.transaction(async (m) => {
      await changeFeed(m, agent); // the agent's lock first, as every contact write: rows are then taken one writer at a time
      const moved = await followGoogleMembershipsOf(m, agent, candidates.map(({ c, labelIds }) => ({ contactId: c.id, labelIds })), false);
      for (const { c, p } of candidates) {
        if (moved.has(c.id)) continue;
        const res = await m.getRepository(Contact).update({ id: c.id, version: c.version, brokerageId: c.brokerageId }, { googleEtag: p.etag ?? null, person: JSON.stringify(p), googleUpdatedAt: updateTimeOf(p) });
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
    if (c.person === JSON.stringify(p) && JSON.stringify(merged) === JSON.stringify(ours) && !(await followGoogleMemberships(this.deps.ds.manager, c, labelIds, false))) return false;
    return this.deps.ds.transaction(async (m) => {
      const feed = await changeFeed(m, c);
      const changed = !c.deletedAt && (JSON.stringify(merged) !== JSON.stringify(ours) || (await followGoogleMemberships(m, c, labelIds, false)));
      const res = await m.getRepository(Contact).update({ id: c.id, version: c.version, brokerageId: c.brokerageId }, { person: JSON.stringify(p), ...(changed ? { ...columnsOf(merged), version: c.version + 1, ...(c.version === c.syncedVersion ? { syncedVersion: c.version + 1 } : {}) } : {}) });
      if (!res.affected) return null;
      if (!changed) return false;
      await followGoogleMemberships(m, c, labelIds);
      await feed.mark([c.id]);
      return true;
    });
  }

  /**
   * Applies Google's current version of some contacts, read outside a sync (getBatchGet): live persons as a sync
   * would, and `{resourceName, metadata: {deleted: true}}` for those Google no longer has.
   */
  async importPersons(agent: AgentRef, persons: Person[]): Promise<void> {
    await this.importPage(agent, persons);
  }

  /** Google no longer has `resourceName`. True when the mirror changed. */
  private async applyDeleted(agent: AgentRef, resourceName: string): Promise<boolean> {
    const found = await this.deps.ds.getRepository(Contact).findOneBy({ agentId: agent.agentId, brokerageId: agent.brokerageId, resourceName });
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
          const res = await repo.update({ id: c.id, version: c.version, brokerageId: c.brokerageId }, { resourceName: null, googleEtag: null, person: null, syncedVersion: 0, syncState: 'PENDING', conflicts: JSON.stringify([{ field: 'deleted', ours: 'edited', theirs: 'deleted', winner: 'crm', at: new Date().toISOString() }]) });
          if (!res.affected) return 'changed' as const;
          await reclaimMemberships(m, c); // its labels go back with it (Google's copy is gone, and with it its groups)
          await CONTACTS_OUTBOX.write(m, agent, { kind: 'create', entityId: c.id });
          await feed.mark([c.id]);
          return 'recreated' as const;
        }
        // Claims the row at the version judged (a write that matches nothing means an edit got in first), then removes it.
        const claimed = await repo.update({ id: c.id, version: c.version, brokerageId: c.brokerageId }, { updatedAt: new Date() });
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
    this.deps.log.warn({ agentId: agent.agentId, resourceNames }, 'Google has extra copies of contacts we created (a retried create); deleting them');
    await this.deps.ds.transaction((m) => CONTACTS_OUTBOX.write(m, agent, resourceNames.map((rn) => ({ kind: 'delete-copy' as const, entityId: rn }))));
    this.deps.outbox.kick(CONTACTS_OUTBOX, agent);
  }
}

/**
 * Whether two versions of a Person hold the same data: etags and metadata (sources, update times) aside. A write of
 * unchanged data (the guard before a delete) gives a new etag and nothing else.
 */
/**
 * What an update of ours leaves as it was: every person field it does not write, and, within those it writes, the
 * details it carries over unchanged (personFromFields: a name's phonetic parts, the first organization's department
 * and type, further organizations).
 */
function beyondOurFields(p: Person): Person {
  const { names, nicknames: _n, emailAddresses: _e, phoneNumbers: _p, addresses: _a, organizations, biographies: _b, birthdays: _bd, events: _ev, relations: _r, urls: _u, ...rest } = p;
  const name = primaryFirst(names)[0] ?? {};
  const orgs = primaryFirst(organizations);
  const keep = <T extends object>(o: T, keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k, v]) => keys.includes(k) && v !== null && v !== undefined && v !== ''));
  return { ...rest, names: [keep(name, PHONETIC_NAME_PARTS)], organizations: [keep(orgs[0] ?? {}, ['department', 'type']), ...orgs.slice(1)] } as Person;
}

/**
 * Whether Google's person, for a mapped contact with no change of ours on its way, holds the fields the contact shows
 * (labels aside): a new etag from it changes nothing a client sees (applyQuiet, applyLive).
 */
function showsTheSame(c: Contact, p: Person): boolean {
  return c.resourceName === p.resourceName && !c.deletedAt && c.version === c.syncedVersion && JSON.stringify(fieldsOf(c)) === JSON.stringify(fieldsFromPerson(p));
}

function sameGoogleContent(a: Person, b: Person): boolean {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'etag' && k !== 'metadata').map(([k, x]) => [k, strip(x)]));
    return v;
  };
  // Memberships aside: Google re-stamps a contact for every label change, ours (members.modify, a label deleted)
  // included, and a label change is no edit that should bring back a contact deleted here.
  const { memberships: _ma, ...ra } = a;
  const { memberships: _mb, ...rb } = b;
  return JSON.stringify(strip(ra)) === JSON.stringify(strip(rb));
}
