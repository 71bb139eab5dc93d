import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';
import { isMysql } from './columns';

const TABLES = ['contact', 'calendar_event'];

/**
 * `unconfirmed` on contacts and events: the values of earlier changes of ours that may already be in Google without
 * our knowing (src/outbox/unconfirmed.ts), so that meeting them there is not taken for someone else's edit.
 */
export class UnconfirmedValues1764260000000 implements MigrationInterface {
  name = 'UnconfirmedValues1764260000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of TABLES) {
      if (await q.hasColumn(table, 'unconfirmed')) continue;
      // MEDIUMTEXT as every text column (LargeValues), added as such: an instant ALTER on MySQL 8 / MariaDB 10.3+,
      // where adding TEXT and then changing its type would rebuild the contact table.
      if (isMysql(q)) await q.query(`ALTER TABLE \`${table}\` ADD \`unconfirmed\` MEDIUMTEXT NULL`);
      else await q.addColumn(table, new TableColumn({ name: 'unconfirmed', type: 'text', isNullable: true }));
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of TABLES) await q.dropColumn(table, 'unconfirmed');
  }
}
