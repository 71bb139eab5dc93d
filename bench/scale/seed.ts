/**
 * Seeds the contact mirror of many agents straight into the database, as a first full sync leaves it, without Google
 * (a million contacts through the People API would take hours). The rows are made by the gateway's own compiled code,
 * as contact.import.ts imports a page of persons: fieldsFromPerson, then contactRow (columnsOf: names, emails,
 * phones, details, sortKey, searchText), the Person kept as the merge base, SYNCED at version 1; the email index as
 * insertEmails writes it (lower-case, deduplicated, INSERT IGNORE); the search index as insertTokens does
 * (searchTokensOf, contact-search.ts); all of an agent's contacts at one change-feed position taken from the agent
 * row, as changeFeed does (contact-changes.ts). Last, each agent's sync record says the mirror is Google's state as
 * of now (lastSyncAt: contact.sync.ts ensureFresh reads nothing from Google within CONTACTS_FRESHNESS_SECONDS) and its
 * search index built with the current tokenizer (searchTokensVersion: searches use the index at once).
 *
 * Fast: a pool of POOL_SIZE distinct persons (people.ts) is mapped once; each agent's contacts are a sample of the
 * pool (no person twice), each with its own id, resourceName and etag (spliced into the stored Person's JSON), so the
 * per-row work is string concatenation of fields escaped once. The rows go in as LOAD DATA LOCAL INFILE streams (no
 * SQL to parse), one transaction per agent, the token rows in primary-key order, `workers` agents at a time on their
 * own connections, foreign key checks off (every row's agent exists); with `deferIndexes` the token table's secondary
 * index (contactId, random) is dropped first and built again after, as it was (a sorted build).
 *
 * For each agent it also picks the searches the bench times, with the number of contacts each must find: every
 * occurrence of a name or prefix at the start of a word (so the LIKE over searchText and the token index agree), a
 * phone tail found in one contact alone.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { createConnection, type Connection } from 'mysql2/promise';
import type { DataSource } from 'typeorm';
import { SEARCH_TOKENS_VERSION } from '../../src/contacts/contact-search';
import { importedRow } from '../../src/contacts/contact.mirror';
import { newSyncRecord } from '../../src/contacts/contact.sync';
import { fieldsFromPerson, searchTokensOf } from '../../src/contacts/person.mapper';
import { Contact, ContactSyncRecord } from '../../src/entities';
import { EMAIL_LENGTH } from '../../src/entities/columns';
import { PERSON_FIELDS } from '../../src/google/people';
import { encodeCursor } from '../../src/graphql/connection';
import { agentPersons, FAMILY_NAMES, PREFIX_CANDIDATES, prng } from './people';

export interface SeedAgent {
  index: number;
  id: string;
  brokerageId: string;
}

interface Search {
  q: string;
  /** Contacts of the agent it matches. */
  expected: number;
}

/** What the bench asks of one seeded agent. */
export interface AgentProbe {
  family: Search;
  phoneTail: Search;
  prefix: Search;
  /** A cursor half-way through the agent's contacts (by sortKey): `after` for a page deep in the list. */
  deepCursor: string;
  /** Emails of some of the agent's contacts (attendees of the agent's events). */
  emails: string[];
}

export interface SeedResult {
  contacts: number;
  emails: number;
  tokens: number;
  seconds: number;
  /** Seconds the database took per table (summed over the workers), and to build the deferred indexes. */
  db: { contact: number; contact_email: number; contact_search_token: number; indexes: number };
  probes: Map<string, AgentProbe>;
}

/** Distinct persons the agents' contacts are drawn from. */
const POOL_SIZE = 20_000;
/** The columns that differ between two rows of the same pooled person. */
const PER_ROW = ['id', 'brokerageId', 'agentId', 'resourceName', 'googleEtag', 'person', 'changeSeq'] as const;

/** A string as a field of LOAD DATA's default format (tab-separated lines, backslash escapes). */
const field = (s: string) => s.replace(/[\\\t\n]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : '\\n'));

/** A value as a LOAD DATA field (dates as the gateway stores them: UTC, milliseconds; null as \N). */
function loadField(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  if (v instanceof Date) return v.toISOString().slice(0, 23).replace('T', ' ');
  if (typeof v === 'boolean') return v ? '1' : '0';
  return field(String(v));
}

interface Pooled {
  /** The fields of the columns that do not vary per row, in `rest` column order. */
  rest: string;
  /** The stored Person's JSON after its resourceName and etag, as a field. */
  personTail: string;
  sortKey: string;
  searchText: string;
  emails: string[];
  /** Its tokens, as indexes into the pool's token list (in code-point order: the primary key's utf8mb4_bin). */
  tokens: number[];
  phoneTail: string | undefined;
}

/**
 * The pool: persons mapped once by the gateway's code into a contact row's columns, email index and tokens; and
 * every token of the pool in code-point order, as LOAD DATA fields.
 */
function pool(restColumns: string[], now: Date): { persons: Pooled[]; tokens: string[] } {
  const tokensOf: string[][] = [];
  const persons = agentPersons(-1, POOL_SIZE, now).map((p) => {
    const { resourceName: _r, etag: _e, ...tail } = p;
    const f = fieldsFromPerson(p);
    const row: Contact = { ...importedRow({ id: '', brokerageId: '', agentId: '' }, p, f, now), unconfirmed: null };
    const tailJson = JSON.stringify(tail);
    tokensOf.push(searchTokensOf(f));
    return {
      rest: restColumns.map((c) => loadField(row[c as keyof Contact])).join('\t'),
      personTail: field(tailJson.slice(1)),
      sortKey: row.sortKey,
      searchText: row.searchText,
      emails: [...new Set(f.emails.map((e) => e.value.toLowerCase()))].filter((e) => e.length <= EMAIL_LENGTH),
      tokens: [] as number[],
      phoneTail: f.phones[0]?.value.replace(/\D/g, '').slice(-4),
    };
  });
  // Code-point order (a string's default order is UTF-16's: the same below U+D800, all the tokens here).
  const tokens = [...new Set(tokensOf.flat())].sort();
  const rank = new Map(tokens.map((t, i) => [t, i]));
  persons.forEach((p, i) => (p.tokens = tokensOf[i].map((t) => rank.get(t)!)));
  return { persons, tokens: tokens.map(field) };
}

/** Whether every occurrence of `term` in `text` starts a word. */
function atWordStarts(text: string, term: string): boolean {
  for (let i = text.indexOf(term); i >= 0; i = text.indexOf(term, i + 1))
    if (i > 0 && /[\p{L}\p{N}]/u.test(text[i - 1])) return false;
  return true;
}

/** The first candidate that `want`s as many texts as it is in (all at word starts, when asked). */
function searchFor(
  texts: string[],
  candidates: string[],
  want: (n: number) => boolean,
  wordStarts = true,
): Search | undefined {
  for (const q of candidates) {
    const hits = texts.filter((t) => t.includes(q));
    if (want(hits.length) && (!wordStarts || hits.every((t) => atWordStarts(t, q))))
      return { q, expected: hits.length };
  }
  return undefined;
}

function probeOf(agent: SeedAgent, picked: Pooled[], ids: string[], otherTexts: string[]): AgentProbe {
  const texts = [...picked.map((p) => p.searchText), ...otherTexts];
  const rand = prng(agent.index + 1);
  const shuffled = <T>(xs: readonly T[]) =>
    xs
      .map((x) => ({ x, k: rand() }))
      .sort((a, b) => a.k - b.k)
      .map((e) => e.x);
  const family = searchFor(
    texts,
    shuffled(FAMILY_NAMES).map((f) => f.toLowerCase()),
    (n) => n > 0,
  );
  const prefix = searchFor(texts, shuffled(PREFIX_CANDIDATES), (n) => n > 0);
  // A phone's digits are searched anywhere in them (the index keeps every tail of 3 digits or more).
  const tails = shuffled(picked.map((p) => p.phoneTail).filter((t): t is string => Boolean(t))).slice(0, 50);
  const phoneTail = searchFor(texts, tails, (n) => n === 1, false);
  if (!family || !prefix || !phoneTail)
    throw new Error(`agent ${agent.index}: no family name, prefix or phone tail to search for (too few contacts?)`);
  const sorted = picked
    .map((p, i) => [p.sortKey, ids[i]] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1));
  return {
    family,
    prefix,
    phoneTail,
    deepCursor: encodeCursor(sorted[Math.floor(sorted.length / 2)]),
    emails: picked.slice(0, 5).map((p) => p.emails[0]),
  };
}

/**
 * Lines into `table`'s `columns`, streamed (LOAD DATA LOCAL INFILE). Duplicate keys are skipped (as INSERT IGNORE):
 * `exact` says there must be none.
 */
async function load(conn: Connection, table: string, columns: string, lines: string[], exact = true): Promise<void> {
  if (lines.length === 0) return;
  const [res] = (await conn.query({
    sql: `LOAD DATA LOCAL INFILE '${table}' IGNORE INTO TABLE ${table} CHARACTER SET utf8mb4 (${columns})`,
    infileStreamFactory: () => Readable.from([Buffer.from(lines.join(''))]),
  })) as unknown as [{ affectedRows: number; warningStatus: number }];
  if (exact && (res.affectedRows !== lines.length || res.warningStatus))
    throw new Error(`${table}: ${res.affectedRows} of ${lines.length} rows loaded, ${res.warningStatus} warnings`);
}

/**
 * Seeds `perAgent` contacts for each of `agents`; `otherTexts(agent)`: the searchText of contacts the agent already
 * has (they count in the searches' expected numbers).
 */
export async function seedContacts(
  ds: DataSource,
  agents: SeedAgent[],
  perAgent: number,
  opts: { url: string; workers: number; deferIndexes: boolean; otherTexts: (agent: SeedAgent) => string[] },
): Promise<SeedResult> {
  if (perAgent > POOL_SIZE) throw new Error(`at most ${POOL_SIZE} contacts per agent`);
  const columns = ds
    .getMetadata(Contact)
    .columns.filter((c) => !c.isVirtual)
    .map((c) => c.propertyName);
  const rest = columns.filter((c) => !(PER_ROW as readonly string[]).includes(c));
  const contactColumns = [...PER_ROW, ...rest].map((c) => `\`${c}\``).join(',');
  const now = new Date();
  const started = performance.now();
  const { persons, tokens } = pool(rest, now);
  const result: SeedResult = {
    contacts: 0,
    emails: 0,
    tokens: 0,
    seconds: 0,
    db: { contact: 0, contact_email: 0, contact_search_token: 0, indexes: 0 },
    probes: new Map(),
  };
  const timed = async (table: keyof SeedResult['db'], run: () => Promise<unknown>) => {
    const t = performance.now();
    await run();
    result.db[table] += (performance.now() - t) / 1000;
  };
  let next = 0;
  let resource = 0;
  const worker = async () => {
    // A connection of its own: statements sent as they are (no placeholders to look for in a megabyte of SQL).
    const conn = await createConnection({
      uri: opts.url,
      charset: 'utf8mb4_unicode_ci',
      flags: ['+LOCAL_FILES'],
      queryFormat: (sql: string) => sql,
    });
    await conn.query('SET SESSION foreign_key_checks = 0');
    try {
      while (next < agents.length) {
        const agent = agents[next++];
        // perAgent distinct persons of the pool (a partial Fisher-Yates shuffle).
        const rand = prng(0xa9e47 + agent.index);
        const order = Array.from({ length: persons.length }, (_, i) => i);
        for (let i = 0; i < perAgent; i++) {
          const j = i + Math.floor(rand() * (order.length - i));
          [order[i], order[j]] = [order[j], order[i]];
        }
        const picked = order.slice(0, perAgent).map((i) => persons[i]);
        const ids = picked.map(() => randomUUID());
        result.probes.set(agent.id, probeOf(agent, picked, ids, opts.otherTexts(agent)));
        const a = agent.id;
        const b = agent.brokerageId;
        const emailRows = picked.flatMap((p, i) =>
          p.emails.map((e) => `${ids[i]}\t${field(e)}\t${agent.id}\t${agent.brokerageId}\n`),
        );
        // In the primary key's order (agentId, token, contactId): each a number, token rank × 2^15 + id rank.
        const byId = ids.map((id, i) => [id, i] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1));
        const keys = new Float64Array(picked.reduce((n, p) => n + p.tokens.length, 0));
        let k = 0;
        byId.forEach(([, i], idRank) => {
          for (const t of picked[i].tokens) keys[k++] = t * 32768 + idRank;
        });
        keys.sort();
        const tokenRows = Array.from(
          keys,
          (key) => `${agent.id}\t${tokens[Math.floor(key / 32768)]}\t${byId[key % 32768][0]}\t${agent.brokerageId}\n`,
        );
        await conn.beginTransaction();
        try {
          // The agent's next change-feed position, its row locked until commit (contact-changes.ts changeFeed).
          await conn.query(
            `UPDATE agent SET contactChangeSeq = contactChangeSeq + 1 WHERE id = '${a}' AND brokerageId = '${b}'`,
          );
          const [[{ seq }]] = (await conn.query(
            `SELECT contactChangeSeq AS seq FROM agent WHERE id = '${a}' AND brokerageId = '${b}'`,
          )) as unknown as [{ seq: number }[]];
          await timed('contact', () =>
            load(
              conn,
              'contact',
              contactColumns,
              picked.map((p, i) => {
                const rn = `people/c${(7_100_000_000_000_000_000n + BigInt(++resource) * 7_919n).toString()}`;
                const etag = `%EgUBAgMFByIMN${resource.toString(36)}`;
                return `${ids[i]}\t${b}\t${a}\t${rn}\t${etag}\t{"resourceName":"${rn}","etag":"${etag}",${p.personTail}\t${seq}\t${p.rest}\n`;
              }),
            ),
          );
          // IGNORE as insertEmails (one address in two spellings the collation holds equal).
          await timed('contact_email', () =>
            load(conn, 'contact_email', 'contactId, email, agentId, brokerageId', emailRows, false),
          );
          await timed('contact_search_token', () =>
            load(conn, 'contact_search_token', 'agentId, token, contactId, brokerageId', tokenRows),
          );
          await conn.commit();
        } catch (err) {
          await conn.rollback();
          throw err;
        }
        result.contacts += picked.length;
        result.emails += emailRows.length;
        result.tokens += tokenRows.length;
      }
    } finally {
      await conn.end();
    }
  };
  const deferred = opts.deferIndexes ? await dropSecondaryIndexes(ds, 'contact_search_token') : [];
  await Promise.all(Array.from({ length: opts.workers }, worker));
  for (const add of deferred) await timed('indexes', () => ds.query(add));
  await markFresh(ds, agents, now);
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/**
 * Drops `table`'s secondary indexes; returns the statements that make them again, as they were (a sorted build once
 * the rows are in, instead of one random insert per row).
 */
async function dropSecondaryIndexes(ds: DataSource, table: string): Promise<string[]> {
  const parts = (await ds.query(
    'SELECT INDEX_NAME AS name, COLUMN_NAME AS col, SUB_PART AS sub, NON_UNIQUE AS nonUnique FROM information_schema.STATISTICS ' +
      "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME <> 'PRIMARY' ORDER BY INDEX_NAME, SEQ_IN_INDEX",
    [table],
  )) as { name: string; col: string; sub: number | null; nonUnique: number | string }[];
  const indexes = new Map<string, { unique: boolean; cols: string[] }>();
  for (const p of parts) {
    const ix = indexes.get(p.name) ?? { unique: Number(p.nonUnique) === 0, cols: [] };
    ix.cols.push(`\`${p.col}\`${p.sub ? `(${p.sub})` : ''}`);
    indexes.set(p.name, ix);
  }
  for (const name of indexes.keys()) await ds.query(`ALTER TABLE \`${table}\` DROP INDEX \`${name}\``);
  return [...indexes].map(
    ([name, ix]) =>
      `ALTER TABLE \`${table}\` ADD ${ix.unique ? 'UNIQUE ' : ''}INDEX \`${name}\` (${ix.cols.join(', ')})`,
  );
}

/**
 * The agents' sync records: the mirror is Google's state as of `now` (lastSyncAt), made with our person fields, its
 * search index built with the current tokenizer; a record already there (an earlier sync) keeps its sync tokens.
 */
async function markFresh(ds: DataSource, agents: SeedAgent[], now: Date): Promise<void> {
  // As a first full sync leaves it: fresh, with every person field, and indexed (the tokens were seeded).
  const { agentId: _a, brokerageId: _b, ...fresh } = newSyncRecord({ agentId: '', brokerageId: '' });
  const record: Omit<ContactSyncRecord, 'agentId' | 'brokerageId'> = {
    ...fresh,
    personFields: PERSON_FIELDS,
    groupsSyncedAt: now,
    lastSyncAt: now,
    lastFullSyncAt: now,
    searchTokensVersion: SEARCH_TOKENS_VERSION,
  };
  const columns = ds
    .getMetadata(ContactSyncRecord)
    .columns.map((c) => c.propertyName)
    .filter((c) => c in record);
  const update = ['lastSyncAt', 'staleSince', 'lastError', 'lastErrorCode', 'lastErrorRemedy', 'searchTokensVersion'];
  const values = agents.map((a) => [a.id, a.brokerageId, ...columns.map((c) => record[c as keyof typeof record])]);
  for (let i = 0; i < values.length; i += 1000)
    await ds.query(
      `INSERT INTO contact_sync (${['agentId', 'brokerageId', ...columns].map((c) => `\`${c}\``).join(',')}) ` +
        `VALUES ? ON DUPLICATE KEY UPDATE ${update.map((c) => `\`${c}\` = VALUES(\`${c}\`)`).join(', ')}`,
      [values.slice(i, i + 1000)],
    );
}
