/**
 * CRM → Google: delivers the contacts lane of the outbox, per agent, in order,
 * in People's batch calls (writes for one user are serialized, as People
 * asks): consecutive creates → batchCreateContacts (≤ 200), updates →
 * batchUpdateContacts (≤ 200), deletes → batchDeleteContacts (≤ 500).
 * Outbox rows name a contact; its CURRENT mirror state is what is sent, so a
 * create followed by edits sends the latest fields once.
 *
 * Safety:
 * - Creates carry our id in clientData. After an ambiguous failure (no
 *   answer: Google may have created them), the next attempt first runs an
 *   incremental sync, which links any contact Google already has by that id
 *   instead of creating it again; a copy that still slips through is found
 *   by the same id on a later sync and deleted.
 * - A stale etag (People: 400 FAILED_PRECONDITION) re-reads the contacts
 *   (getBatchGet), merges three ways and resends; a contact deleted in Google
 *   but edited here is re-created (the edit wins).
 * - Before deleting, an incremental sync brings Google's edits: a contact
 *   deleted here but edited in Google is restored instead (the edit wins).
 */
import type { DataSource } from 'typeorm';
import { In } from 'typeorm';
import type { AgentRef } from '../agents/agent-ref';
import { Contact, ContactLabel, OutboxRow } from '../entities';
import { ErrorCode } from '../errors';
import { isOurFailure, mapGoogleError, type GoogleFailure } from '../google/google-errors';
import type { GoogleSession } from '../google/google-session';
import type { GoogleSessions } from '../google/google-sessions';
import {
  BATCH_CREATE_MAX,
  BATCH_DELETE_MAX,
  BATCH_GET_MAX,
  BATCH_UPDATE_MAX,
  type PeopleDriver,
  type Person,
} from '../google/people';
import type { Logger } from '../logger';
import { CONTACTS_OUTBOX, type LaneRef } from '../outbox/topics';
import { parseUnconfirmed } from '../outbox/unconfirmed';
import type { Outcome, OutboxHandler } from '../outbox/worker';
import { changeFeed, writeChanged } from './contact-changes';
import { LABEL_KINDS, LabelDelivery, LabelRefused, type LabelKind } from './contact-label.delivery';
import {
  followGoogleMembershipsOf,
  groupsOf,
  labelsWithSystem,
  reclaimMemberships,
  requeueMembers,
} from './contact-label.mirror';
import { replaceTokens, type Tokenized } from './contact-search';
import { columnsOf, fieldsOf, removeContacts, writeEmails } from './contact.mirror';
import type { ContactSync } from './contact.sync';
import { mergeContact } from './merge';
import { fieldsFromPerson, personFromFields, updateTimeOf } from './person.mapper';

/**
 * Rounds of "confirm unchanged in Google, else read again and apply" before a delete run waits for its next attempt.
 */
const DELETE_CONFIRM_ATTEMPTS = 3;

/** Rows per batch; a label row is one label (its members go MEMBERS_MODIFY_MAX a call: contact-label.delivery.ts). */
const LIMIT: Record<string, number | undefined> = {
  create: BATCH_CREATE_MAX,
  update: BATCH_UPDATE_MAX,
  delete: BATCH_DELETE_MAX,
  'delete-copy': BATCH_DELETE_MAX,
  ...Object.fromEntries(LABEL_KINDS.map((k) => [k, 20])),
};
const isLabelKind = (kind: string): kind is LabelKind => (LABEL_KINDS as readonly string[]).includes(kind);

class Retry extends Error {
  constructor(readonly failure: GoogleFailure) {
    super(failure.message);
  }
}

export class ContactDelivery implements OutboxHandler {
  readonly topic = CONTACTS_OUTBOX;

  private readonly labels: LabelDelivery;

  constructor(private readonly deps: { ds: DataSource; sessions: GoogleSessions; sync: ContactSync; log: Logger }) {
    this.labels = new LabelDelivery(deps.ds, deps.sync);
  }

  async deliver(lane: LaneRef, rows: OutboxRow[]): Promise<Outcome[]> {
    const kind = rows[0].kind;
    const limit = LIMIT[kind];
    if (!limit) return [{ seq: rows[0].seq, result: 'failed', error: `unknown contacts outbox kind "${kind}"` }];
    // The leading run of one kind, in batches of People's limit for that call.
    const run = rows.slice(
      0,
      rows.findIndex((r) => r.kind !== kind) === -1 ? rows.length : rows.findIndex((r) => r.kind !== kind),
    );
    const batches: OutboxRow[][] = [];
    for (let i = 0; i < run.length; i += limit) batches.push(run.slice(i, i + limit));

    const session = await this.deps.sessions.forAgentId(lane.brokerageId, lane.agentId);
    const email = session.subject;
    const agent = { brokerageId: lane.brokerageId, agentId: lane.agentId, email };
    const outcomes: Outcome[] = [];
    for (const [i, batch] of batches.entries()) {
      const unsure = kind === 'create' && run.some((r) => r.ambiguous);
      try {
        // After an ambiguous create, and before deletes: learn what Google has now (one incremental call per round).
        // Also while the mirror was made with fewer person fields (an older release): an update sent before the full
        // sync that fills them in would clear them in Google (the update mask names them), so that sync comes first.
        if (i === 0 && (unsure || kind === 'delete' || (await this.deps.sync.needsRefill(agent)))) {
          try {
            await this.deps.sync.syncFresh(agent);
          } catch (err) {
            // Without that sync an unsure create must not be sent again: stay unsure, retry later. Whatever the sync
            // met, Google never saw these rows: never "refused", always retried (the reason shows in syncError).
            const f = { ...mapGoogleError(err, { api: 'people', subject: email }), retryable: true };
            outcomes.push(
              ...(await this.onFailure(lane, session, batch, f, err)).map((o) =>
                o.result === 'retry' && unsure ? { ...o, ambiguous: true } : o,
              ),
            );
            break;
          }
        }
        const people = await session.people();
        await this.send(kind, people, batch, lane, agent);
        outcomes.push(...batch.map((r) => ({ seq: r.seq, result: 'done' as const })));
      } catch (err) {
        const f = failureOf(err, email);
        if (f.kind === 'bad-request' && batch.length > 1) {
          // Google refused the batch for the data of one contact (or a few): send them one by one, so only
          // the refused ones fail and the rest still reach Google.
          const single = await this.oneByOne(kind, session, batch, lane, agent);
          outcomes.push(...single.outcomes);
          if (single.stopped) break;
          continue;
        }
        outcomes.push(...(await this.onFailure(lane, session, batch, f, err)));
        break;
      }
    }
    return outcomes;
  }

  private async send(
    kind: string,
    people: PeopleDriver,
    batch: OutboxRow[],
    lane: LaneRef,
    agent: AgentRef,
  ): Promise<void> {
    if (isLabelKind(kind)) await this.labels.send(kind, people, batch, agent);
    else if (kind === 'create') await this.creates(people, batch, lane);
    else if (kind === 'update') await this.updates(people, batch, lane);
    else if (kind === 'delete') await this.deletes(people, batch, agent);
    else await this.deleteCopies(people, batch);
  }

  private async oneByOne(
    kind: string,
    session: GoogleSession,
    batch: OutboxRow[],
    lane: LaneRef,
    agent: AgentRef,
  ): Promise<{ outcomes: Outcome[]; stopped: boolean }> {
    const outcomes: Outcome[] = [];
    for (const row of batch) {
      try {
        await this.send(kind, await session.people(), [row], lane, agent);
        outcomes.push({ seq: row.seq, result: 'done' });
      } catch (err) {
        const f = failureOf(err, agent.email);
        const [o] = await this.onFailure(lane, session, [row], f, err);
        outcomes.push(o);
        if (o.result === 'retry') return { outcomes, stopped: true }; // keep the order: the rest waits behind it
      }
    }
    return { outcomes, stopped: false };
  }

  /**
   * What a failed run of rows becomes: retried (Google's or our temporary trouble, a setup problem an admin can fix, a
   * stale etag) or failed for good (Google refused the data itself, which retrying cannot fix). The contacts, or the
   * labels, of the run say why (syncError; FAILED when refused for good).
   */
  private async onFailure(
    lane: LaneRef,
    session: GoogleSession,
    run: OutboxRow[],
    f: GoogleFailure,
    err: unknown,
  ): Promise<Outcome[]> {
    const labels = isLabelKind(run[0].kind);
    const what = labels ? 'labels' : 'contacts';
    if (f.kind === 'token-rejected') await this.deps.sessions.forgetTokens(lane.brokerageId);
    // Not an answer from Google (our database, a bug of ours): nothing is known about Google, so never "Google
    // refused": retried, and a create asks Google first whether it went (as after a lost answer).
    const ours = isOurFailure(f);
    if (ours) this.deps.log.error({ err, lane }, `unexpected failure delivering ${what}; will retry`);
    // A stale etag is retried for contacts (their update re-reads them first); a label change sends no etag.
    if (f.retryable || ours || f.code === ErrorCode.GOOGLE_NOT_CONFIGURED || (!labels && f.kind === 'stale-etag')) {
      // Setup problems keep retrying with backoff: an admin can fix them, and nothing must be lost meanwhile.
      const why = ours
        ? 'A temporary problem on our side; retrying'
        : f.remedy
          ? `${f.message}. ${f.remedy}`
          : f.message;
      await this.markRun(lane, run, labels, { syncError: why });
      return [
        {
          seq: run[0].seq,
          result: 'retry',
          error: f.message,
          retryAfterMs: f.retryAfterMs,
          ambiguous: (f.kind === 'network' || ours) && run[0].kind === 'create',
          setupKey: f.code === ErrorCode.GOOGLE_NOT_CONFIGURED ? session.keyVersion : undefined,
        },
      ];
    }
    if (f.kind === 'unknown') this.deps.log.error({ err, lane }, `unexpected failure delivering ${what}`);
    await this.markRun(lane, run, labels, {
      syncState: 'FAILED',
      syncError: `Google refused the change: ${f.message}`,
    });
    return run.map((r) => ({ seq: r.seq, result: 'failed' as const, error: f.message }));
  }

  /**
   * Records why a run did not reach Google on what its rows name: the contacts or the labels (a change clients see,
   * at a feed position).
   */
  private async markRun(
    lane: LaneRef,
    run: OutboxRow[],
    labels: boolean,
    patch: { syncError: string; syncState?: 'FAILED' },
  ): Promise<void> {
    const ids = [...new Set(run.map((r) => r.entityId))];
    const where = { id: In(ids), agentId: lane.agentId, brokerageId: lane.brokerageId };
    // A label's syncError shows on its contacts: at a feed position too (contact-changes.ts), marking no contact.
    if (labels) await writeChanged(this.deps.ds, lane, [], (m) => m.getRepository(ContactLabel).update(where, patch));
    else await writeChanged(this.deps.ds, lane, ids, (m) => m.getRepository(Contact).update(where, patch));
  }

  private async creates(people: PeopleDriver, run: OutboxRow[], lane: LaneRef): Promise<void> {
    const contacts = await this.load(run, lane.brokerageId, (c) => !c.deletedAt && !c.resourceName);
    if (contacts.length === 0) return;
    // Flag the rows before Google sees the batch: if this process dies before it learns the outcome, the next
    // attempt (by any process) knows Google may have them and syncs first instead of creating copies.
    const seqs = run.map((r) => r.seq).filter((s) => s !== undefined);
    if (seqs.length)
      await this.deps.ds
        .getRepository(OutboxRow)
        .update({ seq: In(seqs), brokerageId: lane.brokerageId }, { ambiguous: true });
    const created = await people.batchCreateContacts(
      contacts.map((c) => personFromFields(fieldsOf(c), null, { engageId: c.id })),
    );
    const pairs = contacts.map((sent, i) => {
      const person = created[i];
      if (!person?.resourceName)
        throw new Retry({
          kind: 'unavailable',
          code: ErrorCode.UPSTREAM_UNAVAILABLE,
          message: `Google did not return contact ${i + 1} of the batch`,
          retryable: true,
        });
      return { sent, person };
    });
    await this.stored(pairs, lane);
  }

  private async updates(people: PeopleDriver, run: OutboxRow[], lane: LaneRef, retried = false): Promise<void> {
    const contacts = await this.load(run, lane.brokerageId, (c) => !c.deletedAt && c.version > c.syncedVersion);
    const mapped = contacts.filter((c) => c.resourceName);
    // Not in Google any more (deleted there, or never created): the edit wins, create it.
    const unmapped = contacts.filter((c) => !c.resourceName);
    if (unmapped.length)
      await this.creates(
        people,
        unmapped.map((c) => ({ entityId: c.id }) as OutboxRow),
        lane,
      );
    if (mapped.length === 0) return;
    try {
      const results = await people.batchUpdateContacts(
        Object.fromEntries(
          mapped.map((c) => [
            c.resourceName!,
            personFromFields(fieldsOf(c), c.person ? (JSON.parse(c.person) as Person) : null, { etag: c.googleEtag }),
          ]),
        ),
      );
      await this.stored(
        mapped.map((sent) => {
          const person = results.get(sent.resourceName!);
          if (!person)
            throw new Retry({
              kind: 'unavailable',
              code: ErrorCode.UPSTREAM_UNAVAILABLE,
              message: `Google did not return ${sent.resourceName}`,
              retryable: true,
            });
          return { sent, person };
        }),
        lane,
      );
    } catch (err) {
      if (err instanceof Retry) throw err;
      const f = mapGoogleError(err, { api: 'people' });
      // People fails the whole batch for one stale etag or one missing contact: find out which, fix, resend once.
      if (retried || (f.kind !== 'stale-etag' && f.kind !== 'not-found')) throw err;
      await this.refresh(people, mapped, lane);
      await this.updates(people, run, lane, true);
    }
  }

  /** Re-reads contacts from Google (getBatchGet, BATCH_GET_MAX per call), merging Google's edits into ours. */
  private async refresh(people: PeopleDriver, contacts: Contact[], lane: LaneRef): Promise<void> {
    for (let i = 0; i < contacts.length; i += BATCH_GET_MAX) {
      const slice = contacts.slice(i, i + BATCH_GET_MAX);
      const responses = await people.getPersons(slice.map((c) => c.resourceName!));
      const byName = new Map(responses.map((r) => [r.requestedResourceName ?? r.person?.resourceName, r]));
      for (const c of slice) {
        const r = byName.get(c.resourceName!);
        const current = await this.deps.ds
          .getRepository(Contact)
          .findOneBy({ id: c.id, agentId: lane.agentId, brokerageId: lane.brokerageId });
        if (!current) continue;
        if (!r?.person || r.httpStatusCode === 404 || r.status?.code === 5) {
          // Deleted in Google, edited here: forget the mapping so it is created again, with its labels.
          await writeChanged(this.deps.ds, lane, [c.id], async (m) => {
            await m.getRepository(Contact).update(
              { id: c.id, brokerageId: lane.brokerageId },
              {
                resourceName: null,
                googleEtag: null,
                person: null,
                conflicts: JSON.stringify([
                  {
                    field: 'deleted',
                    ours: 'edited',
                    theirs: 'deleted',
                    winner: 'crm',
                    at: new Date().toISOString(),
                  },
                ]),
              },
            );
            await reclaimMemberships(m, current);
          });
          continue;
        }
        if (r.person.etag === current.googleEtag) continue;
        const base = current.person
          ? fieldsFromPerson(JSON.parse(current.person) as Person)
          : fieldsFromPerson(r.person);
        const { merged, conflicts } = mergeContact(
          base,
          fieldsOf(current),
          fieldsFromPerson(r.person),
          current.updatedAt,
          updateTimeOf(r.person),
          new Date(),
          parseUnconfirmed(current.unconfirmed),
        );
        await this.deps.ds.transaction(async (m) => {
          const feed = await changeFeed(m, lane);
          const res = await m.getRepository(Contact).update(
            { id: c.id, version: current.version, brokerageId: lane.brokerageId },
            {
              ...columnsOf(merged),
              googleEtag: r.person!.etag ?? null,
              person: JSON.stringify(r.person),
              googleUpdatedAt: updateTimeOf(r.person!),
              version: current.version + 1,
              ...(conflicts.length ? { conflicts: JSON.stringify(conflicts), syncState: 'CONFLICT' as const } : {}),
            },
          );
          // Changed here since it was read (the CRM's write committed meanwhile): that write's row, emails and words
          // stand; its own delivery merges Google's edit again.
          if (!res.affected) return;
          await writeEmails(m, current, merged);
          await replaceTokens(m, [{ contact: current, fields: merged, before: fieldsOf(current) }]);
          await feed.mark([c.id]);
        });
      }
    }
  }

  private async deletes(people: PeopleDriver, run: OutboxRow[], agent: AgentRef): Promise<void> {
    let contacts = await this.load(run, agent.brokerageId, (c) => Boolean(c.deletedAt));
    for (let attempt = 1; !(await this.unchangedInGoogle(people, contacts, agent)); attempt++) {
      if (attempt === DELETE_CONFIRM_ATTEMPTS) {
        throw new Retry({
          kind: 'unavailable',
          code: ErrorCode.UPSTREAM_UNAVAILABLE,
          message: 'the contacts kept changing in Google while being deleted',
          retryable: true,
        });
      }
      // What Google had was applied (an edit brings its contact back, a contact gone from Google is forgotten):
      // the rest is confirmed again.
      contacts = await this.load(run, agent.brokerageId, (c) => Boolean(c.deletedAt));
    }
    const remote = contacts.filter((c) => c.resourceName);
    if (remote.length) {
      try {
        await people.batchDeleteContacts(remote.map((c) => c.resourceName!));
      } catch (err) {
        if (mapGoogleError(err, { api: 'people' }).kind !== 'not-found') throw err;
        // Some were already gone in Google: delete the rest one batch again, after finding which still exist.
        const responses = await people.getPersonsMetadata(remote.map((c) => c.resourceName!));
        const alive = responses
          .filter((r) => r.person && r.httpStatusCode !== 404)
          .map((r) => r.requestedResourceName ?? r.person!.resourceName!);
        if (alive.length) await people.batchDeleteContacts(alive);
      }
    }
    await this.deps.ds.transaction(async (m) =>
      removeContacts(
        m,
        agent,
        await changeFeed(m, agent),
        contacts.map((c) => c.id),
      ),
    );
  }

  /**
   * People's deletes take no etag, so a delete sent after an edit in Google would erase that edit unseen. Each
   * contact is first written with the etag the last sync saw (its own clientData, unchanged): People refuses a
   * stale etag (400 FAILED_PRECONDITION) or a contact gone (404): then the slice is read again (getBatchGet, not a
   * sync, which may not show a change yet), what Google has is applied as a sync would (an edit wins and the contact
   * comes back; one gone from Google is forgotten), and we answer false. On success the new etags are recorded; a
   * sync that sees such a write before that (or after its answer was lost) knows it by its unchanged content.
   * What stays open is one round trip, between this write's answer and the delete call.
   */
  private async unchangedInGoogle(people: PeopleDriver, contacts: Contact[], agent: AgentRef): Promise<boolean> {
    const guarded = contacts.filter((c) => c.resourceName && c.googleEtag);
    for (let i = 0; i < guarded.length; i += BATCH_UPDATE_MAX) {
      const slice = guarded.slice(i, i + BATCH_UPDATE_MAX);
      let results: Map<string, Person>;
      try {
        results = await people.rewriteClientData(
          Object.fromEntries(
            slice.map((c) => [
              c.resourceName!,
              { etag: c.googleEtag, clientData: c.person ? ((JSON.parse(c.person) as Person).clientData ?? []) : [] },
            ]),
          ),
        );
      } catch (err) {
        const kind = mapGoogleError(err, { api: 'people' }).kind;
        if (kind !== 'stale-etag' && kind !== 'not-found') throw err;
        const responses = await people.getPersons(slice.map((c) => c.resourceName!));
        const live = new Map(
          responses
            .filter((r) => r.person && r.httpStatusCode !== 404 && !r.person.metadata?.deleted)
            .map((r) => [r.requestedResourceName ?? r.person!.resourceName!, r.person!]),
        );
        await this.deps.sync.importPersons(
          agent,
          slice.map((c) => live.get(c.resourceName!) ?? { resourceName: c.resourceName, metadata: { deleted: true } }),
        );
        return false;
      }
      const written = slice.map((c) => {
        const p = results.get(c.resourceName!);
        if (!p)
          throw new Retry({
            kind: 'unavailable',
            code: ErrorCode.UPSTREAM_UNAVAILABLE,
            message: `Google did not return ${c.resourceName}`,
            retryable: true,
          });
        return { id: c.id, p };
      });
      await this.deps.ds.transaction(async (m) => {
        for (const { id, p } of written)
          await m
            .getRepository(Contact)
            .update(
              { id, brokerageId: agent.brokerageId },
              { googleEtag: p.etag ?? null, person: JSON.stringify(p), googleUpdatedAt: updateTimeOf(p) },
            );
      });
    }
    return true;
  }

  private async deleteCopies(people: PeopleDriver, run: OutboxRow[]): Promise<void> {
    try {
      await people.batchDeleteContacts(run.map((r) => r.entityId));
    } catch (err) {
      if (mapGoogleError(err, { api: 'people' }).kind !== 'not-found') throw err;
    }
  }

  /**
   * Records what Google now holds (one transaction per batch). A sync may have run meanwhile (it can see our
   * write first): syncedVersion never goes down. A contact changed here meanwhile stays PENDING, with an update
   * row to carry the change (a no-op if a mutation already queued one).
   */
  private async stored(pairs: { sent: Contact; person: Person }[], lane: LaneRef): Promise<void> {
    const { brokerageId } = lane;
    const behind: Contact[] = [];
    await this.deps.ds.transaction(async (m) => {
      const filled: Tokenized[] = [];
      const feed = await changeFeed(m, lane);
      const current = new Map(
        (
          await m.getRepository(Contact).find({
            where: { id: In(pairs.map((x) => x.sent.id)), brokerageId },
            select: {
              id: true,
              version: true,
              syncedVersion: true,
              syncState: true,
              brokerageId: true,
              agentId: true,
            },
          })
        ).map((c) => [c.id, c]),
      );
      const groups = await labelsWithSystem(m, lane);
      // The groups Google put them in (My Contacts for a new one) are their labels here too.
      const labelsChanged = await followGoogleMembershipsOf(
        m,
        lane,
        pairs
          .filter((x) => current.has(x.sent.id))
          .map(({ sent, person }) => ({
            contactId: sent.id,
            labelIds: groupsOf(person).flatMap((g) => (groups.has(g) ? [groups.get(g)!.id] : [])),
          })),
      );
      for (const { sent, person: p } of pairs) {
        const now = current.get(sent.id);
        if (!now) continue;
        const synced = Math.max(now.syncedVersion, sent.version);
        const caughtUp = synced >= now.version;
        // What Google made of what we sent, when nothing changed here since: the parts it fills in itself (an
        // address's formattedValue composed from the parts) become ours too, as a new version of the contact.
        const written = fieldsFromPerson(p);
        const filledIn =
          caughtUp && now.version === sent.version && JSON.stringify(written) !== JSON.stringify(fieldsOf(sent));
        const version = filledIn || labelsChanged.has(sent.id) ? now.version + 1 : now.version;
        await m.getRepository(Contact).update(
          { id: sent.id, brokerageId },
          {
            resourceName: p.resourceName!,
            googleEtag: p.etag ?? null,
            person: JSON.stringify(p),
            googleUpdatedAt: updateTimeOf(p),
            version,
            syncedVersion: caughtUp ? version : synced,
            ...(filledIn ? columnsOf(written) : {}),
            ...(caughtUp
              ? { syncState: now.syncState === 'CONFLICT' ? 'CONFLICT' : 'SYNCED', syncError: null, unconfirmed: null }
              : {}),
          },
        );
        if (filledIn && JSON.stringify(written.emails) !== JSON.stringify(fieldsOf(sent).emails))
          await writeEmails(m, now, written);
        if (filledIn) filled.push({ contact: now, fields: written, before: fieldsOf(sent) });
        if (!caughtUp) behind.push(now);
      }
      await replaceTokens(m, filled);
      if (behind.length)
        await CONTACTS_OUTBOX.write(
          m,
          lane,
          behind.map((c) => ({ kind: 'update' as const, entityId: c.id })),
        );
      // Contacts in Google only now (created, or re-created after Google lost them): label changes that waited for
      // them.
      await requeueMembers(m, lane, {
        contactIds: pairs.filter((x) => !x.sent.resourceName && current.has(x.sent.id)).map((x) => x.sent.id),
      });
      await feed.mark([...current.keys()]);
    });
  }

  private async load(
    run: Pick<OutboxRow, 'entityId'>[],
    brokerageId: string,
    keep: (c: Contact) => boolean,
  ): Promise<Contact[]> {
    const ids = [...new Set(run.map((r) => r.entityId))];
    const rows = await this.deps.ds.getRepository(Contact).findBy({ id: In(ids), brokerageId });
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id)).filter((c): c is Contact => Boolean(c) && keep(c!));
  }
}

/**
 * What a send's failure means: ours (Retry), a label change Google refused for good (a name taken by another of its
 * groups), or Google's answer.
 */
function failureOf(err: unknown, email: string): GoogleFailure {
  if (err instanceof Retry) return err.failure;
  if (err instanceof LabelRefused)
    return { kind: 'duplicate', code: ErrorCode.CONFLICT, retryable: false, message: err.message };
  return mapGoogleError(err, { api: 'people', subject: email });
}
