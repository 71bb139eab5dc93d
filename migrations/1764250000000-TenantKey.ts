import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';
import { isMysql, keepingSequence } from './columns';

/** The tables that lacked the tenant key: the parent row each one's brokerage is found in, and how a row names it. */
const TABLES: Array<{ table: string; parent: string; key: (q: QueryRunner, table: string) => string }> = [
  { table: 'contact_email', parent: 'contact', key: (_q, t) => `${t}.contactId` },
  { table: 'calendar_change', parent: 'agent', key: (_q, t) => `${t}.agentId` },
  { table: 'calendar_known', parent: 'agent', key: (_q, t) => `${t}.agentId` },
  { table: 'calendar_cache_generation', parent: 'agent', key: (_q, t) => `${t}.agentId` },
  { table: 'mail_recipient', parent: 'sent_mail', key: (_q, t) => `${t}.mailId` },
  { table: 'mail_mime_chunk', parent: 'sent_mail', key: (_q, t) => `${t}.mailId` },
  // lane = "<topic>:<agentId>"
  {
    table: 'outbox_lease',
    parent: 'agent',
    key: (q, t) =>
      isMysql(q) ? `SUBSTRING_INDEX(${t}.lane, ':', -1)` : `substr(${t}.lane, instr(${t}.lane, ':') + 1)`,
  },
];

/** Rows filled per statement on MySQL/MariaDB: short transactions, not one holding a large table's locks. */
const BACKFILL_BATCH = 5000;

/**
 * Every table carries the tenant key, brokerageId, so the data can be split by brokerage (README, "How far one
 * database carries it"): the seven that reached their brokerage only through a parent row get their own column,
 * filled from that parent. A row whose parent is gone belonged to nobody and is dropped.
 *
 * Older replicas do not write the column: stop them before this runs (README, "Deploying"). Should one still write
 * meanwhile, its rows are filled too (the fill is repeated before the column is made required), never dropped for
 * lack of the key; and each step is skipped when already done, so a run cut off on MySQL (where each ALTER commits
 * by itself) is completed by the next.
 */
export class TenantKey1764250000000 implements MigrationInterface {
  name = 'TenantKey1764250000000';

  async up(q: QueryRunner): Promise<void> {
    // Strict, whatever the server's default: in a lax sql_mode, MODIFY … NOT NULL would turn a row still without the
    // key into '' (a tenant of nobody) instead of failing, and the fill would never be repeated.
    const [{ mode }] = isMysql(q) ? await q.query('SELECT @@SESSION.sql_mode AS mode') : [{ mode: '' }];
    if (isMysql(q)) await q.query("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',STRICT_TRANS_TABLES')");
    try {
      for (const spec of TABLES) await this.keyTable(q, spec);
    } finally {
      if (isMysql(q)) await q.query('SET SESSION sql_mode = ?', [mode]);
    }
  }

  private async keyTable(q: QueryRunner, spec: (typeof TABLES)[number]): Promise<void> {
    const { table } = spec;
    const existing = (await q.getTable(table))?.findColumnByName('brokerageId');
    if (existing && !existing.isNullable) {
      await dropFillIndex(q, table); // done by an earlier run, which may have been cut off before this
      return;
    }
    const t = q.connection.driver.escape(table);
    // SQLite rebuilds the table
    const rebuild = async (work: () => Promise<void>) => (isMysql(q) ? work() : keepingSequence(q, work));
    if (!existing) {
      if (isMysql(q)) await q.query(`ALTER TABLE ${t} ADD \`brokerageId\` VARCHAR(36) NULL`);
      else
        await rebuild(() =>
          q.addColumn(table, new TableColumn({ name: 'brokerageId', type: 'varchar', length: '36', isNullable: true })),
        );
    }
    // MySQL: an index on the new column, so that each batch of the fill finds the rows still to fill at once (without
    // it every batch scans the table from its start: quadratic in the rows). Being DDL, it also commits what the
    // migration's transaction holds, so the batches below each commit by themselves, also when a run cut off after
    // adding the column is taken up again.
    if (isMysql(q) && !(await hasFillIndex(q, table)))
      await q.query(`CREATE INDEX \`${fillIndex(table)}\` ON ${t} (\`brokerageId\`)`);
    // Rows of no parent first (so that every row left to fill can be filled), then the fill.
    await q.query(
      `DELETE FROM ${t} WHERE brokerageId IS NULL AND ${spec.key(q, t)} NOT IN (SELECT id FROM ${spec.parent})`,
    );
    await fill(q, spec);
    for (let attempt = 1; ; attempt++) {
      try {
        if (isMysql(q)) await q.query(`ALTER TABLE ${t} MODIFY \`brokerageId\` VARCHAR(36) NOT NULL`);
        else
          await rebuild(() =>
            q.changeColumn(
              table,
              'brokerageId',
              new TableColumn({ name: 'brokerageId', type: 'varchar', length: '36', isNullable: false }),
            ),
          );
        break;
      } catch (err) {
        if (!/null/i.test((err as Error).message)) throw err;
        // A row written without the key since the fill (an older replica still running): fill again, a few times.
        if (attempt === 3)
          throw new Error(
            `${table}: rows keep arriving without brokerageId; stop the replicas of the previous version and run the migrations again (${(err as Error).message})`,
            { cause: err },
          );
        await fill(q, spec);
      }
    }
    await dropFillIndex(q, table);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const { table } of TABLES) {
      if (!(await q.hasColumn(table, 'brokerageId'))) continue;
      if (isMysql(q)) await q.query(`ALTER TABLE ${q.connection.driver.escape(table)} DROP COLUMN \`brokerageId\``);
      else await keepingSequence(q, () => q.dropColumn(table, 'brokerageId'));
    }
  }
}

/** Gives the rows without the key their parent's brokerage (in batches on MySQL/MariaDB). */
async function fill(q: QueryRunner, spec: (typeof TABLES)[number]): Promise<void> {
  const t = q.connection.driver.escape(spec.table);
  const set = `UPDATE ${t} SET brokerageId = (SELECT p.brokerageId FROM ${spec.parent} p WHERE p.id = ${spec.key(q, t)}) WHERE brokerageId IS NULL AND ${spec.key(q, t)} IN (SELECT id FROM ${spec.parent})`;
  if (!isMysql(q)) {
    await q.query(set);
    return;
  }
  for (;;) {
    const res = await q.query(`${set} LIMIT ${BACKFILL_BATCH}`);
    const affected = Number((res as { affectedRows?: number }).affectedRows ?? 0);
    if (affected < BACKFILL_BATCH) return;
  }
}

const fillIndex = (table: string) => `tmp_fill_${table}`;

async function hasFillIndex(q: QueryRunner, table: string): Promise<boolean> {
  return (await q.query(`SHOW INDEX FROM \`${table}\` WHERE Key_name = ?`, [fillIndex(table)])).length > 0;
}

async function dropFillIndex(q: QueryRunner, table: string): Promise<void> {
  if (isMysql(q) && (await hasFillIndex(q, table))) await q.query(`DROP INDEX \`${fillIndex(table)}\` ON \`${table}\``);
}
