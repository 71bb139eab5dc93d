import { type MigrationInterface, type QueryRunner, TableIndex } from 'typeorm';
import { isMysql } from './columns';

/** Integer columns with a default of 0, added in place (SQLite would otherwise rebuild `agent`, a parent table). */
const COLUMNS = [
  { table: 'agent', column: 'contactChangeSeq' },
  { table: 'contact', column: 'changeSeq' },
  { table: 'contact_sync', column: 'changesPrunedThrough' },
];

/**
 * The contact change feed (contactChanges, src/contacts/contact-changes.ts): each contact's place in its agent's feed,
 * the agent's last position, and the highest position of a tombstone deleted for age. Contacts there before it share
 * position 0: a client reading the feed from the start gets them all, in id order.
 */
export class ContactChanges1764280000000 implements MigrationInterface {
  name = 'ContactChanges1764280000000';

  async up(q: QueryRunner): Promise<void> {
    for (const { table, column } of COLUMNS) {
      if (await q.hasColumn(table, column)) continue;
      // Both add the column in place: MariaDB 10.3+ instantly, SQLite without rebuilding the table.
      if (isMysql(q)) await q.query(`ALTER TABLE \`${table}\` ADD \`${column}\` int NOT NULL DEFAULT 0`);
      else await q.query(`ALTER TABLE "${table}" ADD COLUMN "${column}" integer NOT NULL DEFAULT (0)`);
    }
    if (!(await q.getTable('contact'))?.indices.some((i) => i.name === 'idx_contact_changes')) {
      await q.createIndex(
        'contact',
        new TableIndex({ name: 'idx_contact_changes', columnNames: ['agentId', 'changeSeq', 'id'] }),
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('contact', 'idx_contact_changes');
    for (const { table, column } of COLUMNS) {
      if (isMysql(q)) await q.query(`ALTER TABLE \`${table}\` DROP COLUMN \`${column}\``);
      else await q.query(`ALTER TABLE "${table}" DROP COLUMN "${column}"`);
    }
  }
}
