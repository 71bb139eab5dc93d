import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { id, int, isMysql, pk, str, ts, useUtf8mb4 } from './columns';

/**
 * Labels (People contact groups) and who is in them (issue 16): contact_label, contact_label_member, and per agent the
 * contactGroups.list sync token and when the labels were last synced.
 */
export class ContactLabels1764300000000 implements MigrationInterface {
  name = 'ContactLabels1764300000000';

  async up(q: QueryRunner): Promise<void> {
    const text = (name: string, nullable = false) => ({
      name,
      type: isMysql(q) ? 'mediumtext' : 'text',
      isNullable: nullable,
    });
    if (!(await q.hasTable('contact_label'))) {
      await q.createTable(
        new Table({
          name: 'contact_label',
          columns: [
            pk(id('id')),
            id('brokerageId'),
            id('agentId'),
            str('resourceName', 128, true),
            str('kind', 16),
            text('name'),
            text('sentName', true),
            int('version'),
            int('syncedVersion'),
            str('syncState', 16),
            text('syncError', true),
            ts('deletedAt', true),
            ts('createdAt'),
            ts('updatedAt'),
          ],
          indices: [
            new TableIndex({ name: 'idx_contact_label_agent', columnNames: ['agentId', 'deletedAt'] }),
            new TableIndex({
              name: 'uq_contact_label_resource',
              columnNames: ['agentId', 'resourceName'],
              isUnique: true,
            }),
          ],
        }),
      );
      await useUtf8mb4(q, ['contact_label']);
    }
    if (!(await q.hasTable('contact_label_member'))) {
      await q.createTable(
        new Table({
          name: 'contact_label_member',
          columns: [
            pk(id('contactId')),
            pk(id('labelId')),
            id('agentId'),
            id('brokerageId'),
            str('pending', 8, true),
            int('changeNo'),
          ],
          indices: [
            new TableIndex({
              name: 'idx_contact_label_member_label',
              columnNames: ['agentId', 'labelId', 'contactId'],
            }),
          ],
        }),
      );
    }
    // Added in place: MariaDB 10.3+ instantly, SQLite without rebuilding the table.
    if (!(await q.hasColumn('contact_sync', 'groupSyncToken'))) {
      if (isMysql(q))
        await q.query(
          'ALTER TABLE `contact_sync` ADD `groupSyncToken` MEDIUMTEXT NULL, ADD `groupsSyncedAt` datetime(3) NULL',
        );
      else {
        await q.query('ALTER TABLE "contact_sync" ADD COLUMN "groupSyncToken" text NULL');
        await q.query('ALTER TABLE "contact_sync" ADD COLUMN "groupsSyncedAt" datetime(3) NULL');
      }
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('contact_label_member');
    await q.dropTable('contact_label');
    for (const column of ['groupSyncToken', 'groupsSyncedAt']) {
      if (isMysql(q)) await q.query(`ALTER TABLE \`contact_sync\` DROP COLUMN \`${column}\``);
      else await q.query(`ALTER TABLE "contact_sync" DROP COLUMN "${column}"`);
    }
  }
}
