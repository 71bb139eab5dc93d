import { randomUUID } from 'node:crypto';
import { In, TableColumn, type DataSource, type EntityTarget, type ObjectLiteral } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import {
  Agent,
  Brokerage,
  CalendarCacheGeneration,
  CalendarChange,
  CalendarKnown,
  Contact,
  ContactEmail,
  MailMimeChunk,
  MailRecipient,
  OutboxLease,
  SentMail,
  ServiceAccountCredential,
} from '../../src/entities';
import { describeEachDb } from '../support/db';

const ROWS_PER_TABLE = 2;

/**
 * `ROWS_PER_TABLE` rows in every entity's table, with every column filled (nullable ones too), built from the
 * entities' metadata so a table added later is seeded without touching this test. Row i belongs to brokerage `b<i>`
 * and agent `a<i>` (the foreign keys hold); values differ per row (the unique indexes hold).
 */
async function seedEveryTable(ds: DataSource): Promise<void> {
  for (const meta of ds.entityMetadatas) {
    for (let i = 0; i < ROWS_PER_TABLE; i++) {
      const row: Record<string, unknown> = {};
      for (const c of meta.columns) {
        if (c.isGenerated) continue;
        const name = c.databaseName;
        const type = typeof c.type === 'string' ? c.type : c.type.name.toLowerCase();
        let v: unknown;
        if (meta.tableName === 'brokerage' && name === 'id') v = `b${i}`;
        else if (meta.tableName === 'agent' && name === 'id') v = `a${i}`;
        else if (name === 'brokerageId') v = `b${i}`;
        else if (name === 'agentId') v = `a${i}`;
        else if (type === 'varchar' || type === 'text' || type === 'mediumtext' || type === 'string')
          v = `${name}${i}`.slice(-(Number(c.length) || 64));
        else if (type === 'integer' || type === 'int' || type === 'number') v = i + 1;
        else if (type === 'boolean') v = i % 2 === 0;
        else if (type === 'datetime' || type === 'date') v = new Date(Date.UTC(2026, 0, 1 + i));
        else throw new Error(`seedEveryTable: no value for ${meta.tableName}.${name} of type ${type}`);
        row[c.propertyName] = v;
      }
      await ds.createQueryBuilder().insert().into(meta.target).values(row).execute();
    }
  }
}

async function rowCounts(ds: DataSource): Promise<Record<string, number | 'no table'>> {
  const out: Record<string, number | 'no table'> = {};
  const q = ds.createQueryRunner();
  try {
    for (const meta of ds.entityMetadatas) {
      out[meta.tableName] = (await q.hasTable(meta.tableName))
        ? Number((await ds.query(`SELECT COUNT(*) AS n FROM ${ds.driver.escape(meta.tableName)}`))[0].n)
        : 'no table';
    }
  } finally {
    await q.release();
  }
  return out;
}

/**
 * A row inserted into a table as an older schema has it: only the columns given (the entity may declare columns a
 * later migration adds).
 */
async function insertAt(
  ds: DataSource,
  entity: EntityTarget<ObjectLiteral>,
  row: Record<string, unknown>,
): Promise<void> {
  // updateEntity(false): not read back, as TypeORM does for columns with defaults, which may not exist yet.
  await ds.createQueryBuilder().insert().into(entity, Object.keys(row)).values(row).updateEntity(false).execute();
}

/** A brokerage with one agent, as every schema since the first has them. */
async function seedAgent(ds: DataSource, brokerageId: string, agentId: string): Promise<void> {
  const createdAt = new Date();
  if (!(await ds.query(`SELECT id FROM brokerage WHERE id = '${brokerageId}'`)).length) {
    await insertAt(ds, Brokerage, { id: brokerageId, name: brokerageId, domain: `${brokerageId}.test`, createdAt });
  }
  await insertAt(ds, Agent, {
    id: agentId,
    brokerageId,
    email: `${agentId}@${brokerageId}.test`,
    role: 'agent',
    createdAt,
  });
}

/** Reverts the migrations from the newest back to and including `name`. */
async function undoThrough(ds: DataSource, name: string): Promise<void> {
  const names = MIGRATIONS.map((m) => new m().name);
  expect(names).toContain(name);
  for (let i = names.length - 1; i >= names.indexOf(name); i--) await ds.undoLastMigration({ transaction: 'each' });
}

describeEachDb('migrations', (db) => {
  test('bring the schema exactly to what the entities declare (no drift)', async () => {
    const pending = await db().ds.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  test('are all applied and recorded', async () => {
    expect(await db().ds.showMigrations()).toBe(false);
    const rows = await db().ds.query('SELECT name FROM migrations');
    expect(rows.map((r: { name: string }) => r.name)).toContain('Foundation1764130000000');
  });

  test('every down() runs on a database with rows, one by one to the empty schema, keeping the rows of the tables it does not drop; then every up() again', async () => {
    const ds = db().ds;
    await seedEveryTable(ds);
    const seeded = await rowCounts(ds);
    expect(Object.values(seeded).every((n) => n === ROWS_PER_TABLE)).toBe(true);
    // The tables each migration creates: those missing once it is reverted.
    const created = new Map<string, string[]>();
    let before = seeded;
    for (const m of [...MIGRATIONS].reverse()) {
      await ds.undoLastMigration({ transaction: 'each' });
      const applied = (await ds.query('SELECT name FROM migrations')).map((r: { name: string }) => r.name);
      expect(applied).not.toContain(new m().name);
      const after = await rowCounts(ds);
      const dropped = Object.keys(after).filter((t) => after[t] === 'no table' && before[t] !== 'no table');
      created.set(new m().name, dropped);
      // Every table still there kept every row (a column dropped or a table rebuilt must not lose data).
      expect(Object.fromEntries(Object.entries(after).filter(([t]) => after[t] !== 'no table'))).toEqual(
        Object.fromEntries(Object.entries(seeded).filter(([t]) => after[t] !== 'no table')),
      );
      before = after;
    }
    expect(await ds.query('SELECT name FROM migrations')).toEqual([]);
    expect(Object.values(await rowCounts(ds)).every((n) => n === 'no table')).toBe(true);
    // each table dropped by exactly one down()
    expect([...created.values()].flat().sort()).toEqual(ds.entityMetadatas.map((e) => e.tableName).sort());

    await ds.runMigrations({ transaction: 'each' });
    expect(await ds.showMigrations()).toBe(false);
    const pending = await ds.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
    // The rebuilt schema takes the same rows again.
    await seedEveryTable(ds);
    expect(await rowCounts(ds)).toEqual(seeded);
    await db().clear();
  });

  test('EraseRetiredKeys empties the secret of every retired key, and of nothing else', async () => {
    const ds = db().ds;
    await undoThrough(ds, 'EraseRetiredKeys1764200000000');
    const b = randomUUID();
    await ds
      .getRepository(Brokerage)
      .insert({ id: b, name: 'Brokerage erase.test', domain: 'erase.test', createdAt: new Date() });
    const key = (id: string, status: 'RETIRED' | 'VERIFIED') => ({
      id,
      brokerageId: b,
      status,
      clientEmail: 'sa@p.iam',
      clientId: '1',
      privateKeyId: id,
      kekId: 'k1',
      wrappedKey: `wrapped-${id}`,
      ciphertext: `secret-${id}`,
      verifiedAt: null,
      testEmail: null,
      grantedScopes: null,
      lastChecks: null,
      createdAt: new Date(),
      updatedAt: new Date(),
    });
    await ds
      .getRepository(ServiceAccountCredential)
      .insert([key('old1', 'RETIRED'), key('old2', 'RETIRED'), key('live', 'VERIFIED')]);
    await ds.runMigrations({ transaction: 'each' });
    const rows = await ds
      .getRepository(ServiceAccountCredential)
      .find({ where: { brokerageId: b }, order: { id: 'ASC' } });
    expect(rows.map((r) => [r.id, r.status, r.wrappedKey, r.ciphertext])).toEqual([
      ['live', 'VERIFIED', 'wrapped-live', 'secret-live'],
      ['old1', 'RETIRED', '', ''],
      ['old2', 'RETIRED', '', ''],
    ]);
    await db().clear();
  });

  test('LargeValues keeps every value, and afterwards a contact takes a 300-character name and a 100 KB note', async () => {
    const ds = db().ds;
    await undoThrough(ds, 'LargeValues1764210000000');
    await insertAt(ds, Brokerage, { id: 'b1', name: 'B', domain: 'b.test', createdAt: new Date() });
    await insertAt(ds, Agent, { id: 'a1', brokerageId: 'b1', email: 'a@b.test', role: 'agent', createdAt: new Date() });
    const contact = (id: string, givenName: string, notes: string) => ({
      id,
      brokerageId: 'b1',
      agentId: 'a1',
      resourceName: `people/${id}`,
      googleEtag: null,
      version: 1,
      syncedVersion: 1,
      givenName,
      familyName: 'F',
      organization: 'O',
      jobTitle: 'J',
      notes,
      emails: '[]',
      phones: '[]',
      sortKey: givenName.slice(0, 200).toLowerCase(),
      searchText: givenName,
      person: JSON.stringify({ notes }),
      syncState: 'SYNCED' as const,
      syncError: null,
      conflicts: null,
      googleUpdatedAt: null,
      deletedAt: null,
      createdAt: new Date(),
      updatedAt: new Date(),
    });
    const before = contact('c1', 'Ä'.repeat(200), 'n'.repeat(60_000));
    await insertAt(ds, Contact, before);
    await ds.runMigrations({ transaction: 'each' });
    expect(await ds.getRepository(Contact).findOneByOrFail({ id: 'c1' })).toMatchObject({
      givenName: before.givenName,
      notes: before.notes,
      person: before.person,
    });
    const large = contact('c2', 'Ö'.repeat(300), 'Ω'.repeat(100_000));
    await ds.getRepository(Contact).insert(large);
    expect(await ds.getRepository(Contact).findOneByOrFail({ id: 'c2' })).toMatchObject({
      givenName: large.givenName,
      notes: large.notes,
      person: large.person,
    });
    await db().clear();
  });

  test("CalendarKnown fills the feed's memory from the feed: per agent and event, the latest change", async () => {
    const ds = db().ds;
    await undoThrough(ds, 'CalendarKnown1764220000000');
    const change = (agentId: string, googleEventId: string, event: object, recordedAt: string) =>
      insertAt(ds, CalendarChange, {
        agentId,
        googleEventId,
        status: (event as { status?: string }).status ?? 'confirmed',
        event: JSON.stringify(event),
        recordedAt: new Date(recordedAt),
      });
    await seedAgent(ds, 'b1', 'a1');
    await seedAgent(ds, 'b1', 'a2');
    await change(
      'a1',
      'evA',
      { id: 'evA', etag: '"1"', status: 'confirmed', end: { dateTime: '2026-12-01T11:00:00Z' } },
      '2026-11-01T00:00:00Z',
    );
    await change(
      'a1',
      'evB',
      { id: 'evB', etag: '"1"', status: 'confirmed', end: { date: '2026-12-02' } },
      '2026-11-01T00:00:00Z',
    );
    await change(
      'a1',
      'evA',
      { id: 'evA', etag: '"2"', status: 'confirmed', end: { dateTime: '2026-12-03T11:00:00Z' } },
      '2026-11-02T00:00:00Z',
    );
    await change('a1', 'evB', { id: 'evB', status: 'cancelled' }, '2026-11-03T00:00:00Z');
    await change(
      'a2',
      'evA',
      {
        id: 'evA',
        etag: '"9"',
        status: 'confirmed',
        recurrence: ['RRULE:FREQ=DAILY'],
        end: { dateTime: '2026-12-01T11:00:00Z' },
      },
      '2026-11-04T00:00:00Z',
    );
    await ds.runMigrations({ transaction: 'each' });
    const rows = await ds.getRepository(CalendarKnown).find({ order: { agentId: 'ASC', googleEventId: 'ASC' } });
    expect(
      rows.map((r) => [
        r.agentId,
        r.googleEventId,
        r.etag,
        r.status,
        r.endsAt?.toISOString() ?? null,
        r.recordedAt.toISOString(),
      ]),
    ).toEqual([
      ['a1', 'evA', '"2"', 'confirmed', '2026-12-03T11:00:00.000Z', '2026-11-02T00:00:00.000Z'],
      ['a1', 'evB', null, 'cancelled', null, '2026-11-03T00:00:00.000Z'],
      ['a2', 'evA', '"9"', 'confirmed', null, '2026-11-04T00:00:00.000Z'],
    ]);
    await db().clear();
  });

  test("LongEventIds keeps the change feed's positions: a change recorded afterwards comes after every cursor handed out before, even when the newest rows were pruned", async () => {
    const ds = db().ds;
    await undoThrough(ds, 'LongEventIds1764240000000');
    await seedAgent(ds, 'b1', 'a1');
    const record = (googleEventId: string, brokerageId?: string) =>
      insertAt(ds, CalendarChange, {
        agentId: 'a1',
        googleEventId,
        status: 'confirmed',
        event: '{}',
        recordedAt: new Date(),
        ...(brokerageId ? { brokerageId } : {}),
      });
    for (const id of ['e1', 'e2', 'e3']) await record(id);
    const highest = Math.max(
      ...(await ds.getRepository(CalendarChange).find({ select: { seq: true } })).map((c) => c.seq),
    );
    await ds.getRepository(CalendarChange).delete({ googleEventId: In(['e2', 'e3']) }); // pruned: a client's cursor may still be at e3
    await ds.runMigrations({ transaction: 'each' });
    await record('e4', 'b1');
    const e4 = await ds.getRepository(CalendarChange).findOneByOrFail({ googleEventId: 'e4' });
    expect(e4.seq).toBeGreaterThan(highest);
    await db().clear();
  });

  test("TenantKey gives the seven tables their rows' brokerage, from the parent row; rows of no parent go; the change feed keeps its positions", async () => {
    const ds = db().ds;
    await undoThrough(ds, 'TenantKey1764250000000');
    await seedAgent(ds, 'b1', 'a1');
    await seedAgent(ds, 'b2', 'a2');
    const now = new Date();
    const contact = (id: string, brokerageId: string, agentId: string) =>
      insertAt(ds, Contact, {
        id,
        brokerageId,
        agentId,
        resourceName: null,
        googleEtag: null,
        version: 1,
        syncedVersion: 0,
        givenName: id,
        familyName: null,
        organization: null,
        jobTitle: null,
        notes: null,
        emails: '[]',
        phones: '[]',
        sortKey: id,
        searchText: id,
        person: null,
        syncState: 'PENDING',
        syncError: null,
        conflicts: null,
        googleUpdatedAt: null,
        deletedAt: null,
        createdAt: now,
        updatedAt: now,
      });
    await contact('c1', 'b1', 'a1');
    await contact('c2', 'b2', 'a2');
    for (const [contactId, agentId] of [
      ['c1', 'a1'],
      ['c2', 'a2'],
      ['gone', 'a1'],
    ])
      await insertAt(ds, ContactEmail, { contactId, email: `${contactId}@x.test`, agentId });
    for (const [googleEventId, agentId] of [
      ['e1', 'a1'],
      ['e2', 'a2'],
      ['e3', 'nobody'],
    ]) {
      await insertAt(ds, CalendarChange, { agentId, googleEventId, status: 'confirmed', event: '{}', recordedAt: now });
      await insertAt(ds, CalendarKnown, {
        agentId,
        googleEventId,
        etag: null,
        status: 'confirmed',
        endsAt: null,
        recordedAt: now,
      });
    }
    for (const agentId of ['a1', 'a2']) await insertAt(ds, CalendarCacheGeneration, { agentId, generation: 3 });
    // More rows than one batch of the fill (5,000 on MySQL): filled through, batch after batch.
    for (let i = 0; i < 12; i++) {
      const rows = Array.from({ length: 1000 }, (_, k) => ({
        agentId: 'a1',
        googleEventId: `bulk${i * 1000 + k}`,
        etag: null,
        status: 'confirmed',
        endsAt: null,
        recordedAt: now,
      }));
      await ds
        .createQueryBuilder()
        .insert()
        .into(CalendarKnown, ['agentId', 'googleEventId', 'etag', 'status', 'endsAt', 'recordedAt'])
        .values(rows)
        .execute();
    }
    const mail = (id: string, brokerageId: string, agentId: string) =>
      insertAt(ds, SentMail, {
        id,
        brokerageId,
        agentId,
        idempotencyKey: null,
        idempotencyKeyHash: null,
        requestHash: id,
        status: 'QUEUED',
        phase: null,
        deliveryToken: null,
        fromAddress: `${agentId}@x.test`,
        subject: id,
        messageIdHeader: `<${id}@x.test>`,
        referencesHeader: null,
        replyToMailId: null,
        attachments: '[]',
        sizeBytes: 1,
        gmailDraftId: null,
        gmailMessageId: null,
        threadId: null,
        failureCode: null,
        failureReason: null,
        createdAt: now,
        sentAt: null,
        updatedAt: now,
      });
    await mail('m1', 'b1', 'a1');
    await mail('m2', 'b2', 'a2');
    for (const mailId of ['m1', 'm2', 'lost']) {
      await insertAt(ds, MailRecipient, { mailId, position: 0, kind: 'to', email: 'z@y.test', name: null });
      await insertAt(ds, MailMimeChunk, { mailId, seq: 0, data: 'AA==' });
    }
    await insertAt(ds, OutboxLease, { lane: 'contacts:a2', owner: 'p1', until: now });
    await insertAt(ds, OutboxLease, { lane: 'mail:a1', owner: 'p1', until: now });
    // A run cut off after its first step on one table (on MySQL each ALTER commits by itself): the next completes it.
    const runner = ds.createQueryRunner();
    await runner.addColumn(
      'outbox_lease',
      new TableColumn({ name: 'brokerageId', type: 'varchar', length: '36', isNullable: true }),
    );
    await runner.release();
    const highest = Math.max(
      ...(await ds.getRepository(CalendarChange).find({ select: { seq: true } })).map((c) => c.seq),
    );

    await ds.runMigrations({ transaction: 'each' });
    const pairs = async (table: string, key: string) =>
      (await ds.query(`SELECT ${key} AS k, brokerageId AS b FROM ${table} ORDER BY ${key}`)).map(
        (r: { k: string; b: string }) => `${r.k}=${r.b}`,
      );
    expect(await pairs('contact_email', 'contactId')).toEqual(['c1=b1', 'c2=b2']);
    expect(await pairs('calendar_change', 'googleEventId')).toEqual(['e1=b1', 'e2=b2']);
    expect((await pairs('calendar_known', 'googleEventId')).filter((p: string) => !p.startsWith('bulk'))).toEqual([
      'e1=b1',
      'e2=b2',
    ]);
    expect(
      await ds
        .query(
          "SELECT brokerageId AS b, COUNT(*) AS n FROM calendar_known WHERE googleEventId LIKE 'bulk%' GROUP BY brokerageId",
        )
        .then((r: Array<{ b: string; n: string | number }>) => r.map((x) => `${x.b}:${Number(x.n)}`)),
    ).toEqual(['b1:12000']);
    expect(await pairs('calendar_cache_generation', 'agentId')).toEqual(['a1=b1', 'a2=b2']);
    expect(await pairs('mail_recipient', 'mailId')).toEqual(['m1=b1', 'm2=b2']);
    expect(await pairs('mail_mime_chunk', 'mailId')).toEqual(['m1=b1', 'm2=b2']);
    expect(await pairs('outbox_lease', 'lane')).toEqual(['contacts:a2=b2', 'mail:a1=b1']);
    // The next change still comes after every position handed out before (SQLite rebuilt the table twice).
    await ds.getRepository(CalendarChange).insert({
      brokerageId: 'b1',
      agentId: 'a1',
      googleEventId: 'e4',
      status: 'confirmed',
      event: '{}',
      recordedAt: now,
    });
    expect((await ds.getRepository(CalendarChange).findOneByOrFail({ googleEventId: 'e4' })).seq).toBeGreaterThan(
      highest,
    );
    await db().clear();
  });

  test('a duplicate agent email is rejected by the database itself', async () => {
    const now = new Date();
    await db().ds.getRepository(Brokerage).insert({ id: 'b1', name: 'B', domain: 'b.test', createdAt: now });
    const insert = () =>
      db()
        .ds.getRepository(Agent)
        .insert({ id: randomUUID(), brokerageId: 'b1', email: 'a@b.test', role: 'agent', createdAt: now });
    await insert();
    await expect(insert()).rejects.toThrow(/unique|duplicate/i);
    await db().clear();
  });
});
