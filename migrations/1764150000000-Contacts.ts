import { type MigrationInterface, type QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { id, str, text, ts, int, pk, serial, useUtf8mb4 } from './columns';

// Dialect-neutral (Table API), like the foundation migration; shapes match src/entities.

const TABLES = ['contact', 'contact_email', 'contact_sync', 'outbox', 'outbox_lease'];

export class Contacts1764150000000 implements MigrationInterface {
  name = 'Contacts1764150000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'contact',
        columns: [
          pk(id('id')),
          id('brokerageId'),
          id('agentId'),
          str('resourceName', 128, true),
          str('googleEtag', 255, true),
          int('version'),
          int('syncedVersion'),
          str('givenName', 200, true),
          str('familyName', 200, true),
          str('organization', 200, true),
          str('jobTitle', 200, true),
          text('notes', true),
          text('emails'),
          text('phones'),
          str('sortKey', 200),
          text('searchText'),
          text('person', true),
          str('syncState', 16),
          text('syncError', true),
          text('conflicts', true),
          ts('googleUpdatedAt', true),
          ts('deletedAt', true),
          ts('createdAt'),
          ts('updatedAt'),
        ],
        indices: [
          new TableIndex({ name: 'idx_contact_agent', columnNames: ['agentId', 'deletedAt', 'sortKey'] }),
          new TableIndex({ name: 'uq_contact_resource', columnNames: ['agentId', 'resourceName'], isUnique: true }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'fk_contact_agent',
            columnNames: ['agentId'],
            referencedTableName: 'agent',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'contact_email',
        columns: [pk(id('contactId')), pk(str('email', 320)), id('agentId')],
        indices: [new TableIndex({ name: 'idx_contact_email_lookup', columnNames: ['agentId', 'email'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'contact_sync',
        columns: [
          pk(id('agentId')),
          id('brokerageId'),
          text('syncToken', true),
          ts('lastSyncAt', true),
          ts('lastFullSyncAt', true),
          ts('staleSince', true),
          text('lastError', true),
          int('fullResyncs'),
          ts('lastFullResyncAt', true),
          str('lastFullResyncReason', 64, true),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'outbox',
        columns: [
          serial('seq'),
          id('brokerageId'),
          id('agentId'),
          str('topic', 16),
          str('kind', 16),
          str('entityId', 64),
          str('status', 16),
          int('attempts'),
          { name: 'ambiguous', type: 'boolean' },
          ts('nextAttemptAt'),
          text('lastError', true),
          ts('createdAt'),
        ],
        indices: [
          new TableIndex({ name: 'idx_outbox_due', columnNames: ['status', 'nextAttemptAt'] }),
          new TableIndex({ name: 'idx_outbox_lane', columnNames: ['topic', 'agentId', 'status', 'seq'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({ name: 'outbox_lease', columns: [pk(str('lane', 64)), str('owner', 64), ts('until')] }),
    );
    await useUtf8mb4(q, TABLES);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [...TABLES].reverse()) await q.dropTable(t);
  }
}
