import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';
import { isMysql, keepingSequence } from './columns';

/** The tables that lacked the tenant key, and where each row's brokerage is found. */
const TABLES: Array<{ table: string; from: (q: QueryRunner) => string }> = [
  { table: 'contact_email', from: () => 'SELECT p.brokerageId FROM contact p WHERE p.id = t.contactId' },
  { table: 'calendar_change', from: () => 'SELECT p.brokerageId FROM agent p WHERE p.id = t.agentId' },
  { table: 'calendar_known', from: () => 'SELECT p.brokerageId FROM agent p WHERE p.id = t.agentId' },
  { table: 'calendar_cache_generation', from: () => 'SELECT p.brokerageId FROM agent p WHERE p.id = t.agentId' },
  { table: 'mail_recipient', from: () => 'SELECT p.brokerageId FROM sent_mail p WHERE p.id = t.mailId' },
  { table: 'mail_mime_chunk', from: () => 'SELECT p.brokerageId FROM sent_mail p WHERE p.id = t.mailId' },
  // lane = "<topic>:<agentId>"
  { table: 'outbox_lease', from: (q) => `SELECT p.brokerageId FROM agent p WHERE p.id = ${isMysql(q) ? "SUBSTRING_INDEX(t.lane, ':', -1)" : "substr(t.lane, instr(t.lane, ':') + 1)"}` },
];

/**
 * Every table carries the tenant key, brokerageId, so the data can be split by brokerage (README, "How far one
 * database carries it"): the seven that reached their brokerage only through a parent row get their own column,
 * filled from that parent. A row whose parent is gone belonged to nobody and is dropped.
 *
 * Old replicas do not write the column: stop them before running this migration (the Deployment's Recreate, or scale
 * to zero), as README's "Deploying" says for this release.
 */
export class TenantKey1764250000000 implements MigrationInterface {
  name = 'TenantKey1764250000000';

  async up(q: QueryRunner): Promise<void> {
    for (const { table, from } of TABLES) {
      const t = q.connection.driver.escape(table);
      if (isMysql(q)) {
        await q.query(`ALTER TABLE ${t} ADD \`brokerageId\` VARCHAR(36) NULL`);
        await q.query(`UPDATE ${t} t SET t.brokerageId = (${from(q)})`);
        await q.query(`DELETE FROM ${t} WHERE brokerageId IS NULL`);
        await q.query(`ALTER TABLE ${t} MODIFY \`brokerageId\` VARCHAR(36) NOT NULL`);
        continue;
      }
      // SQLite adds and changes columns by rebuilding the table; calendar_change keeps its AUTOINCREMENT counter.
      await keepingSequence(q, async () => {
        await q.addColumn(table, new TableColumn({ name: 'brokerageId', type: 'varchar', length: '36', isNullable: true }));
        await q.query(`UPDATE ${t} AS t SET brokerageId = (${from(q)})`);
        await q.query(`DELETE FROM ${t} WHERE brokerageId IS NULL`);
        await q.changeColumn(table, 'brokerageId', new TableColumn({ name: 'brokerageId', type: 'varchar', length: '36', isNullable: false }));
      });
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const { table } of TABLES) {
      if (isMysql(q)) await q.query(`ALTER TABLE ${q.connection.driver.escape(table)} DROP COLUMN \`brokerageId\``);
      else await keepingSequence(q, () => q.dropColumn(table, 'brokerageId'));
    }
  }
}
