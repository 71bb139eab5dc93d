/**
 * The contact rules. Reads come from the mirror, made fresh first with one
 * incremental sync when the last one is older than the freshness window
 * (single-flight per agent). Writes change the mirror and record an outbox
 * row in one transaction, then wait briefly for delivery: SYNCED when Google
 * has it in time, PENDING otherwise (delivery goes on, with retries).
 * Every query is scoped to the caller's own agent (TenantScope): another
 * agent's or brokerage's id is simply NOT_FOUND.
 */
import { withReplaced } from '../outbox/unconfirmed';
import { randomUUID } from 'node:crypto';
import { In, IsNull } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import type { Config } from '../config';
import { checkFirst, decodeCursor, edgesPage, encodeCursor, pageOf, type CountedPage } from '../graphql/connection';
import { credentialProblem, statusError, type FeatureProblem } from '../google/feature-health';
import { Contact, ContactLabel, ContactLabelMember, ContactTombstone } from '../entities';
import { AppError, badInput, ErrorCode, notFound } from '../errors';
import { laneCounts } from '../outbox/status';
import { CONTACTS_OUTBOX } from '../outbox/topics';
import type { OutboxWorker } from '../outbox/worker';
import type { AddressInput, ContactInput, ContactPatch, DateInput } from './contact.input';
import { changeFeed, checkNotExpired, chunks, decodeFeedCursor, encodeFeedCursor, readFeed } from './contact-changes';
import { insertTokens, MAX_QUERY_WORDS, queryWords, replaceTokens, searchCondition } from './contact-search';
import { fixedSql } from '../db/statements';
import { createdThenDeleted, createOnce, keyed, remember, type Keyed } from '../idempotency/idempotency';
import {
  columnsOf,
  contactRow,
  fieldsOf,
  insertContacts,
  insertEmails,
  EMPTY_FIELDS,
  writeEmails,
} from './contact.mirror';
import { CONTACT_VIEW_COLUMNS, labelsOf, memberCounts, type ContactView } from './contact.loader';
import { readRows } from '../db/read-rows';
import { ContactPageCache, feedPosition } from './contact-page-cache';
import { weight } from '../graphql/kept-pages';
import type { ContactSync } from './contact.sync';
import {
  type ContactConnectionType,
  SyncStateEnum,
  type ContactChangeConnectionType,
  ContactType,
  type SyncStatusType,
} from './contact.type';
import {
  ADDRESS_PARTS,
  DEPRECATED_NICKNAME_TYPES,
  displayNameOf,
  FIELD_NAMES,
  PREDEFINED_TYPES,
  type Address,
  type Birthday,
  type ContactDate,
  type ContactFields,
} from './person.mapper';

/** freshnessMs: reads sync first when the mirror is older; changesRetentionMs: how long the feed keeps a tombstone. */
export type ContactSettings = Config['contacts'];

/** Page size bounds of contacts(first:). */
const MAX_PAGE = 200;
/** Page size bound of contactChanges(first:). */
const MAX_CHANGES_PAGE = 500;
/** Most contacts one bulk mutation takes. */
export const MAX_BULK = 1000;

function etagOf(c: Pick<Contact, 'version'>): string {
  return `"v${c.version}"`;
}

export function toContactType(c: ContactView): ContactType {
  const f = fieldsOf(c);
  // An instance, not a plain object: type-graphql would copy a plain one into a new instance for each of its field
  // resolvers (syncError, labels), for every contact of a page.
  return Object.assign(new ContactType(), {
    id: c.id,
    resourceName: c.resourceName,
    etag: etagOf(c),
    displayName: displayNameOf(f),
    givenName: f.givenName,
    familyName: f.familyName,
    emails: f.emails,
    phones: f.phones,
    organization: f.organization,
    jobTitle: f.jobTitle,
    notes: f.notes,
    middleName: f.middleName,
    honorificPrefix: f.honorificPrefix,
    honorificSuffix: f.honorificSuffix,
    nicknames: f.nicknames,
    addresses: f.addresses,
    birthday: f.birthday,
    events: f.events,
    relations: f.relations,
    urls: f.urls,
    updatedAt: c.updatedAt,
    syncState: SyncStateEnum[c.syncState],
    syncError: c.syncState === 'SYNCED' ? null : c.syncError,
    conflicts: c.conflicts
      ? (
          JSON.parse(c.conflicts) as { field: string; ours: unknown; theirs: unknown; winner: string; at: string }[]
        ).map((x) => ({
          field: x.field,
          ours: JSON.stringify(x.ours ?? null),
          theirs: JSON.stringify(x.theirs ?? null),
          winner: x.winner,
          at: new Date(x.at),
        }))
      : [],
  });
}

const cursorOf = (c: Pick<Contact, 'sortKey' | 'id'>) => encodeCursor([c.sortKey, c.id]);

function fieldsFromInput(input: ContactInput, base?: ContactFields): ContactFields {
  const pick = <K extends keyof ContactFields>(k: K, v: ContactFields[K] | undefined): ContactFields[K] =>
    v === undefined ? (base ? base[k] : (EMPTY_FIELDS[k] as ContactFields[K])) : v;
  const text = (v: string | null | undefined) => (v === undefined ? undefined : v === null ? null : v.trim() || null);
  const list = <I, O>(vs: I[] | null | undefined, map: (x: I, i: number) => O): O[] | undefined =>
    vs === undefined ? undefined : (vs ?? []).map(map);
  const typed = (vs: { value: string; type?: string | null }[] | null | undefined) =>
    list(vs, (x) => ({ value: x.value.trim(), type: x.type?.trim().toLowerCase() || null }));
  const f: ContactFields = {
    givenName: pick('givenName', text(input.givenName)),
    familyName: pick('familyName', text(input.familyName)),
    organization: pick('organization', text(input.organization)),
    jobTitle: pick('jobTitle', text(input.jobTitle)),
    notes: pick('notes', text(input.notes)),
    emails: pick('emails', typed(input.emails)),
    phones: pick('phones', typed(input.phones)),
    middleName: pick('middleName', text(input.middleName)),
    honorificPrefix: pick('honorificPrefix', text(input.honorificPrefix)),
    honorificSuffix: pick('honorificSuffix', text(input.honorificSuffix)),
    nicknames: pick(
      'nicknames',
      list(input.nicknames, (n, i) => ({ value: n.value.trim(), type: nicknameType(n.type, i, base) })),
    ),
    addresses: pick(
      'addresses',
      list(input.addresses, (a, i) => addressFromInput(a, i, base)),
    ),
    birthday: pick(
      'birthday',
      input.birthday === undefined
        ? undefined
        : input.birthday === null
          ? null
          : birthdayFromInput(input.birthday, base),
    ),
    events: pick(
      'events',
      list(input.events, (e, i) => ({
        date: dateFromInput(e.date, `events.${i}.date`),
        type: detailType('events', e.type, i, base),
      })),
    ),
    relations: pick(
      'relations',
      list(input.relations, (r, i) => ({
        person: nonBlank(r.person, `relations.${i}.person`),
        type: detailType('relations', r.type, i, base),
      })),
    ),
    urls: pick(
      'urls',
      list(input.urls, (u, i) => ({
        value: nonBlank(u.value, `urls.${i}.value`),
        type: detailType('urls', u.type, i, base),
      })),
    ),
  };
  if (
    !f.givenName &&
    !f.familyName &&
    !f.middleName &&
    !f.organization &&
    f.emails.length === 0 &&
    f.phones.length === 0 &&
    f.nicknames.length === 0
  ) {
    throw badInput('A contact needs at least a name, an organization, an email or a phone number');
  }
  return f;
}

function nonBlank(v: string, field: string): string {
  if (!v.trim()) throw badInput(`${field}: must not be blank`, { field });
  return v.trim();
}

/**
 * A detail's type: one of Google's predefined ones, in Google's spelling whatever the case given ("Home",
 * "referredby"),
 * or a custom label that the contact's field already has (one set in Google, sent back unchanged). Any other word is
 * most likely a typo: BAD_USER_INPUT, naming the field and the types there are.
 */
function detailType(
  field: 'addresses' | 'events' | 'relations' | 'urls',
  raw: string | null | undefined,
  i: number,
  base?: ContactFields,
): string | null {
  const t = raw?.trim();
  if (!t) return null;
  const predefined = (PREDEFINED_TYPES[field] as readonly string[]).find((p) => p.toLowerCase() === t.toLowerCase());
  if (predefined) return predefined;
  if ((base?.[field] ?? []).some((x) => x.type === t)) return t;
  const what = { addresses: 'an address', events: 'an event', relations: 'a relation', urls: 'a url' }[field];
  throw badInput(
    `${field}.${i}.type: "${t}" is not ${what} type (${PREDEFINED_TYPES[field].join(', ')}; or a custom label this ${what.split(' ')[1]} already has in Google)`,
    { field: `${field}.${i}.type` },
  );
}

/** People's Nickname.type is an enum: DEFAULT (written as no type) or ALTERNATE_NAME; deprecated ones only as kept. */
function nicknameType(raw: string | null | undefined, i: number, base?: ContactFields): string | null {
  const t = raw
    ?.trim()
    .toUpperCase()
    .replace(/[\s-]+/g, '_');
  if (!t || t === 'DEFAULT') return null;
  if (
    t === 'ALTERNATE_NAME' ||
    (DEPRECATED_NICKNAME_TYPES.includes(t) && (base?.nicknames ?? []).some((n) => n.type === t))
  )
    return t;
  throw badInput(`nicknames.${i}.type: "${raw!.trim()}" is not a nickname type (DEFAULT or ALTERNATE_NAME)`, {
    field: `nicknames.${i}.type`,
  });
}

function addressFromInput(a: AddressInput, i: number, base?: ContactFields): Address {
  const t = (v: string | null | undefined) => v?.trim() || null;
  const address: Address = {
    type: detailType('addresses', a.type, i, base),
    formattedValue: t(a.formattedValue),
    poBox: t(a.poBox),
    streetAddress: t(a.streetAddress),
    extendedAddress: t(a.extendedAddress),
    city: t(a.city),
    region: t(a.region),
    postalCode: t(a.postalCode),
    country: t(a.country),
    countryCode: t(a.countryCode)?.toUpperCase() ?? null,
  };
  if (ADDRESS_PARTS.every((k) => k === 'type' || address[k] === null))
    throw badInput(`addresses.${i}: an address needs at least one part (a street, a city, a postal code…)`, {
      field: `addresses.${i}`,
    });
  // The text of an address read here and sent back with other parts: stale. Left out, so Google composes it anew
  // (it keeps a formattedValue it is given, https://developers.google.com/people/api/rest/v1/people#address).
  const was =
    address.formattedValue === null
      ? undefined
      : base?.addresses.find((b) => b.formattedValue === address.formattedValue);
  if (was && ADDRESS_PARTS.some((k) => k !== 'type' && k !== 'formattedValue' && was[k] !== address[k]))
    address.formattedValue = null;
  return address;
}

/** A date as People takes it: a full date, a month and day (no year), a year and month, or a year alone. */
export function dateFromInput(d: DateInput, field: string): ContactDate {
  const date: ContactDate = { year: d.year ?? null, month: d.month ?? null, day: d.day ?? null };
  const { year, month, day } = date;
  const shape = year !== null ? month !== null || day === null : month !== null && day !== null;
  const inRange =
    (year === null || (year >= 1 && year <= 9999)) &&
    (month === null || (month >= 1 && month <= 12)) &&
    (day === null || (day >= 1 && month !== null && day <= daysIn(month, year)));
  if (!shape || !inRange) {
    throw badInput(
      `${field}: ${JSON.stringify(date)} is not a date (month 1 to 12 and a day that month has, the year 1 to 9999 or left out)`,
      { field },
    );
  }
  return date;
}

function daysIn(month: number, year: number | null): number {
  if (month === 2) return year === null || (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** A birthday set from a date; the same date as the contact has keeps Google's (deprecated) text with it. */
function birthdayFromInput(d: DateInput, base?: ContactFields): Birthday {
  const date = dateFromInput(d, 'birthday');
  return base?.birthday && JSON.stringify(base.birthday.date) === JSON.stringify(date)
    ? base.birthday
    : { date, text: null };
}

/** Tries of an update without an etag that meets a change made meanwhile (each a fresh read of the row). */
const UPDATE_ATTEMPTS = 5;

export class ContactService {
  /** Pages read again at the same feed position (contact-page-cache.ts). */
  private readonly pages = new ContactPageCache();

  constructor(private readonly deps: { sync: ContactSync; outbox: OutboxWorker; settings: ContactSettings }) {}

  /** What the kept pages hold, and how often they answered (tests). */
  pageStats(): { agents: number; pages: number; bytes: number; hits: number } {
    return this.pages.stats;
  }

  /** Forgets every kept page (tests that empty the tables). */
  forgetPages(): void {
    this.pages.clear();
  }

  /**
   * `want`: what the client asked for of the contacts' labels (their list or the star; their member counts), read for
   * the whole page here rather than contact by contact.
   */
  async list(
    scope: TenantScope,
    args: { first: number; after?: string | null; query?: string | null; label?: string | null },
    want: { labels?: boolean; memberCounts?: boolean } = {},
  ): Promise<CountedPage<ContactConnectionType>> {
    const withLabels = want.labels === true;
    checkFirst(args.first, MAX_PAGE);
    const q = args.query?.trim();
    if (q && q.length > 200) throw badInput('"query" must be at most 200 characters', { field: 'query' });
    const words = q ? queryWords(q) : [];
    if (words.length > MAX_QUERY_WORDS)
      throw badInput(`"query" may have at most ${MAX_QUERY_WORDS} words`, { field: 'query' });
    if (withLabels) await this.deps.sync.ensureLabelsFresh(scope.agent, this.deps.settings.freshnessMs);
    else await this.deps.sync.ensureFresh(scope.agent, this.deps.settings.freshnessMs);
    if (args.label && !(await scope.findOneForAgent(ContactLabel, { id: args.label, deletedAt: IsNull() })))
      throw notFound('Label', args.label, { field: 'label' });
    // Through the agent's token index once it is built (contact-search.ts); reading the contacts until then.
    const indexed = q ? await this.deps.sync.searchIndex.ready(scope.agent) : false;

    const base = () => {
      const qb = scope.agentQuery(Contact, 'c').andWhere('c.deletedAt IS NULL');
      if (q) searchCondition(qb, q, indexed ? words : []);
      if (args.label) {
        // In the label as shown: an addition on its way counts, a removal on its way does not. (The subquery reuses
        // agentQuery's :agentId and :brokerageId.)
        qb.andWhere(
          (sub) =>
            `c.id IN ${fixedSql(sub.connection, 'contact ids in a label', () => sub.subQuery().select('r.contactId').from(ContactLabelMember, 'r').where("r.agentId = :agentId AND r.brokerageId = :brokerageId AND r.labelId = :label AND (r.pending IS NULL OR r.pending = 'add')").getQuery())}`,
          { label: args.label },
        );
      }
      return qb;
    };
    const page = base()
      .orderBy('c.sortKey', 'ASC')
      .addOrderBy('c.id', 'ASC')
      .limit(args.first + 1);
    if (args.after) {
      const [sortKey, id] = decodeCursor(args.after, ['string', 'string']);
      // The first term bounds the index read (agentId, deletedAt, sortKey) from the cursor on; written as one OR,
      // SQLite read the agent's contacts from the first and filtered them (test/contacts/search-index.test.ts).
      page.andWhere('c.sortKey >= :sk AND (c.sortKey > :sk OR c.id > :cid)', { sk: sortKey, cid: id });
    }
    const read = async () => {
      const rows = await readRows(page, 'c', CONTACT_VIEW_COLUMNS);
      const result = pageOf(rows, args.first, cursorOf, toContactType);
      let bytes = 0;
      for (const r of rows) bytes += weight(Object.values(r));
      if (withLabels) {
        const labels = await labelsOf(
          scope,
          result.edges.map((e) => e.node.id),
        );
        for (const list of labels.values()) for (const l of list) bytes += weight(Object.values(l));
        for (const { node } of result.edges) node.labelList = labels.get(node.id) ?? [];
        if (want.memberCounts) {
          const counts = await memberCounts(scope, [...new Set([...labels.values()].flat().map((l) => l.id))]);
          bytes += 16 * counts.size;
          for (const { node } of result.edges) node.labelCounts = counts;
        }
      }
      return { page: result, bytes };
    };
    // Kept at the agent's feed position (contact-page-cache.ts); a search is read each time.
    const result = q
      ? (await read()).page
      : await this.pages.page(
          scope,
          JSON.stringify([args.first, args.after ?? null, args.label ?? null, withLabels, want.memberCounts === true]),
          () => scope.read((m) => feedPosition(m, scope)),
          read,
        );
    return { ...result, count: async () => Number(await base().getCount()) };
  }

  /** `idempotencyKey`: the same key answers the contact its first request created (src/idempotency/idempotency.ts). */
  async create(scope: TenantScope, input: ContactInput, idempotencyKey?: string | null): Promise<ContactType> {
    return (await this.createMany(scope, [input], keyed('createContact', idempotencyKey, input)))[0];
  }

  async createMany(scope: TenantScope, inputs: ContactInput[], key: Keyed | null = null): Promise<ContactType[]> {
    if (inputs.length === 0 || inputs.length > MAX_BULK)
      throw badInput(`Give from 1 to ${MAX_BULK} contacts (got ${inputs.length})`);
    return createOnce(
      scope,
      key,
      () => this.insertMany(scope, inputs, key),
      (ids) => this.replay(scope, key!, ids),
    );
  }

  private async insertMany(scope: TenantScope, inputs: ContactInput[], key: Keyed | null): Promise<ContactType[]> {
    const fields = inputs.map((i, n) => {
      try {
        return fieldsFromInput(i);
      } catch (err) {
        throw inputs.length > 1 && err instanceof AppError
          ? badInput(`contact ${n + 1}: ${err.message}`, { index: n })
          : err;
      }
    });
    const now = new Date();
    const rows = fields.map((f) =>
      contactRow({ id: randomUUID(), brokerageId: scope.brokerageId, agentId: scope.agentId }, f, now),
    );
    const seqs = await scope.transaction(async (m) => {
      const feed = await changeFeed(m, scope);
      if (key)
        await remember(
          m,
          scope,
          key,
          rows.map((r) => r.id),
          now,
        );
      await insertContacts(m, rows);
      const items = rows.map((r, i) => ({ contact: r, fields: fields[i] }));
      await insertEmails(m, items);
      await insertTokens(m, items);
      const queued = await CONTACTS_OUTBOX.write(
        m,
        scope,
        rows.map((r) => ({ kind: 'create', entityId: r.id })),
        now,
      );
      await feed.mark(rows.map((r) => r.id));
      return queued;
    });
    return this.afterWrite(
      scope,
      seqs,
      rows.map((r) => r.id),
    );
  }

  /** The contacts a key's first request created, as they are now. */
  private async replay(scope: TenantScope, key: Keyed, ids: string[]): Promise<ContactType[]> {
    const rows = await scope.findForAgent(Contact, { id: In(ids), deletedAt: IsNull() });
    if (rows.length < ids.length) throw createdThenDeleted(key, ids.length > 1 ? 'contacts' : 'contact');
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => toContactType(byId.get(id)!));
  }

  async update(scope: TenantScope, id: string, patch: ContactPatch, attempt = 1): Promise<ContactType> {
    const { etag, ...changes } = patch;
    const seqs = await scope.transaction(async (m, tx) => {
      const feed = await changeFeed(m, scope);
      const c = await tx.findOneForAgent(Contact, { id, deletedAt: IsNull() });
      if (!c) throw notFound('Contact', id);
      const before = fieldsOf(c);
      const f = fieldsFromInput(changes as ContactInput, before);
      // Nothing to change: also with an etag gone stale, the contact already is what the caller asked for (a retry of
      // an update that was applied, its answer lost): it is answered as it is, not CONFLICT.
      if (FIELD_NAMES.every((k) => JSON.stringify(f[k]) === JSON.stringify(before[k]))) return [];
      if (etag && etag !== etagOf(c)) {
        throw new AppError(
          ErrorCode.CONFLICT,
          `Contact ${id} changed since you read it (your etag ${etag}, current ${etagOf(c)}); apply your change to the current version`,
          { current: toContactType(c) },
        );
      }
      // A change of ours not yet confirmed may be in Google unanswered: the values this one replaces are kept, so
      // that meeting them there is known for our own write (src/outbox/unconfirmed.ts).
      const unconfirmed =
        c.version > c.syncedVersion ? withReplaced(c.unconfirmed, before, f, FIELD_NAMES) : c.unconfirmed;
      const res = await m
        .getRepository(Contact)
        .update(
          { id: c.id, version: c.version, brokerageId: scope.brokerageId },
          { ...columnsOf(f), unconfirmed, version: c.version + 1, syncState: 'PENDING', updatedAt: new Date() },
        );
      if (!res.affected) {
        // Changed between the read and the write (a sync or a delivery recording Google's state). Without an etag
        // the change is made again on the new version; with one, the version it was meant for is gone.
        if (etag || attempt === UPDATE_ATTEMPTS)
          throw new AppError(
            ErrorCode.CONFLICT,
            `Contact ${id} changed while it was being updated; read it again and retry`,
          );
        return null;
      }
      await writeEmails(m, c, f);
      await replaceTokens(m, [{ contact: c, fields: f, before }]);
      const queued = await CONTACTS_OUTBOX.write(m, scope, { kind: 'update', entityId: c.id });
      await feed.mark([c.id]);
      return queued;
    });
    if (seqs === null) return this.update(scope, id, patch, attempt + 1);
    return (await this.afterWrite(scope, seqs, [id]))[0];
  }

  async delete(scope: TenantScope, ids: string[]): Promise<boolean> {
    if (ids.length === 0 || ids.length > MAX_BULK)
      throw badInput(`Give from 1 to ${MAX_BULK} contact ids (got ${ids.length})`);
    const unique = [...new Set(ids)];
    const seqs = await scope.transaction(async (m, tx) => {
      const feed = await changeFeed(m, scope);
      const rows = await tx
        .agentQuery(Contact, 'c')
        .select(['c.id', 'c.deletedAt'])
        .andWhere('c.id IN (:...ids)', { ids: unique })
        .getMany();
      // Deleting again is no error (a retry whose answer was lost): deleted here and on its way to Google, or gone.
      const found = rows.filter((c) => !c.deletedAt);
      const unknown = unique.filter((id) => !rows.some((c) => c.id === id));
      const buried = unknown.length
        ? await tx
            .agentQuery(ContactTombstone, 't')
            .select(['t.contactId'])
            .andWhere('t.contactId IN (:...unknown)', { unknown })
            .getMany()
        : [];
      const missing = unknown.filter((id) => !buried.some((t) => t.contactId === id));
      if (missing.length) throw notFound('Contact', missing[0]);
      const now = new Date();
      const foundIds = found.map((c) => c.id);
      // Marked in one statement per 500, not one per contact (1,000 round trips to MariaDB for 1,000 deletes).
      for (const ids of chunks(foundIds, 500))
        await m
          .createQueryBuilder()
          .update(Contact)
          .set({ deletedAt: now, version: () => 'version + 1', syncState: 'PENDING', updatedAt: now })
          .where('id IN (:...ids) AND brokerageId = :brokerageId AND agentId = :agentId', {
            ids,
            brokerageId: scope.brokerageId,
            agentId: scope.agentId,
          })
          .execute();
      if (found.length === 0) return [];
      const queued = await CONTACTS_OUTBOX.write(
        m,
        scope,
        found.map((c) => ({ kind: 'delete', entityId: c.id })),
        now,
      );
      await feed.mark(foundIds);
      return queued;
    });
    if (seqs.length) await this.deliver(scope, seqs);
    return true;
  }

  /** OutboxWorker.settle; without a key the contacts say why in syncError (ContactResolver.syncError). */
  private async deliver(scope: TenantScope, seqs: number[]): Promise<void> {
    await this.deps.outbox.settle(CONTACTS_OUTBOX, scope, seqs, { feature: 'contacts' });
  }

  /**
   * The caller's contact change feed after `after` (contact-changes.ts), made fresh with Google first as contacts is.
   * A cursor older than the feed keeps deletes for is CURSOR_EXPIRED (BAD_USER_INPUT, reason cursor_expired).
   */
  async changes(
    scope: TenantScope,
    args: { first: number; after?: string | null },
  ): Promise<ContactChangeConnectionType> {
    checkFirst(args.first, MAX_CHANGES_PAGE);
    const after = args.after ? decodeFeedCursor(args.after) : null;
    await this.deps.sync.ensureFresh(scope.agent, this.deps.settings.freshnessMs);
    const { entries, hasMore } = await scope.read((m) => readFeed(m, scope, after, args.first));
    // Read after the page: a retention sweep between the two reads is caught, never a silent gap.
    if (after) await scope.read((m) => checkNotExpired(m, scope, after, this.deps.settings.changesRetentionMs));
    const edges = entries.map((e) => ({
      cursor: encodeFeedCursor(e),
      node: {
        contactId: e.id,
        deleted: e.deleted,
        contact: e.contact ? toContactType(e.contact) : null,
        changedAt: e.at,
      },
    }));
    return edgesPage(edges, hasMore, args.after ?? null);
  }

  async syncNow(scope: TenantScope): Promise<SyncStatusType> {
    await this.deps.sync.sync(scope.agent);
    return this.status(scope);
  }

  /** `keyProblem`: what the brokerage's keys say about contacts (asked here when not given). */
  async status(scope: TenantScope, keyProblem?: FeatureProblem | null): Promise<SyncStatusType> {
    const rec = await this.deps.sync.record(scope.agent);
    const counts = await scope.read((m) => laneCounts(m, CONTACTS_OUTBOX.lane(scope)));
    const error = statusError(
      keyProblem === undefined
        ? await scope.read((m) => credentialProblem(m, scope.brokerageId, 'contacts'))
        : keyProblem,
      rec,
    );
    return {
      id: scope.agentId,
      contacts: {
        id: `${scope.agentId}/contacts`,
        lastSyncAt: rec.lastSyncAt,
        staleSince: rec.staleSince,
        error,
        lastError: error?.message ?? null,
        lastFullSyncAt: rec.lastFullSyncAt,
        fullResyncs: rec.fullResyncs,
        lastFullResyncAt: rec.lastFullResyncAt,
        lastFullResyncReason: rec.lastFullResyncReason,
        pendingChanges: counts.PENDING,
        failedChanges: counts.FAILED,
      },
    };
  }

  private async afterWrite(scope: TenantScope, seqs: number[], ids: string[]): Promise<ContactType[]> {
    if (seqs.length) await this.deliver(scope, seqs);
    const rows = await scope.findForAgent(Contact, { id: In(ids) });
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => {
      const c = byId.get(id);
      if (!c) throw notFound('Contact', id); // deleted meanwhile (e.g. by a concurrent delete already delivered)
      return toContactType(c);
    });
  }
}
