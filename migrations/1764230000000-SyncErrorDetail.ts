import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';
import { isMysql } from './columns';

/**
 * The code and remedy of a sync's last error beside its message (syncStatus { … error { code message remedy since } }).
 */
export class SyncErrorDetail1764230000000 implements MigrationInterface {
  name = 'SyncErrorDetail1764230000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of ['contact_sync', 'calendar_sync']) {
      await q.addColumns(table, [
        new TableColumn({ name: 'lastErrorCode', type: 'varchar', length: '64', isNullable: true }),
        new TableColumn({ name: 'lastErrorRemedy', type: 'text', isNullable: true }),
      ]);
      if (isMysql(q)) {
        await q.query(`ALTER TABLE \`${table}\` MODIFY \`lastErrorRemedy\` MEDIUMTEXT NULL`); // every text column is (LargeValues)
      }
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['contact_sync', 'calendar_sync'])
      await q.dropColumns(table, ['lastErrorCode', 'lastErrorRemedy']);
  }
}
