import { type MigrationInterface, type QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { id, str, text, ts, pk, useUtf8mb4 } from './columns';

// Written with TypeORM's Table API so one migration runs unchanged on
// MySQL/MariaDB and SQLite. Column shapes match src/entities/columns.ts;
// test/db/migrations.test.ts fails if entities and migrations drift apart.

export class Foundation1764130000000 implements MigrationInterface {
  name = 'Foundation1764130000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'brokerage',
        columns: [pk(id('id')), str('name', 200), str('domain', 253), ts('createdAt')],
        indices: [new TableIndex({ name: 'uq_brokerage_domain', columnNames: ['domain'], isUnique: true })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'agent',
        columns: [
          pk(id('id')),
          id('brokerageId'),
          str('email', 320),
          str('role', 16),
          ts('createdAt'),
          ts('lastSeenAt', true),
        ],
        indices: [
          new TableIndex({ name: 'idx_agent_brokerage', columnNames: ['brokerageId'] }),
          new TableIndex({ name: 'uq_agent_email', columnNames: ['email'], isUnique: true }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'fk_agent_brokerage',
            columnNames: ['brokerageId'],
            referencedTableName: 'brokerage',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'service_account_credential',
        columns: [
          pk(id('id')),
          id('brokerageId'),
          str('status', 24),
          str('clientEmail', 320),
          str('clientId', 64),
          str('privateKeyId', 64),
          str('kekId', 32),
          text('wrappedKey'),
          text('ciphertext'),
          ts('verifiedAt', true),
          text('lastChecks', true),
          ts('createdAt'),
          ts('updatedAt'),
        ],
        indices: [new TableIndex({ name: 'idx_credential_brokerage', columnNames: ['brokerageId', 'status'] })],
        foreignKeys: [
          new TableForeignKey({
            name: 'fk_credential_brokerage',
            columnNames: ['brokerageId'],
            referencedTableName: 'brokerage',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'audit_log',
        columns: [
          pk(id('id')),
          id('brokerageId', true),
          str('actor', 320),
          str('action', 64),
          str('target', 255, true),
          text('detail', true),
          ts('at'),
        ],
        indices: [new TableIndex({ name: 'idx_audit_brokerage_at', columnNames: ['brokerageId', 'at'] })],
      }),
    );
    await useUtf8mb4(q, ['brokerage', 'agent', 'service_account_credential', 'audit_log']);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('audit_log');
    await q.dropTable('service_account_credential');
    await q.dropTable('agent');
    await q.dropTable('brokerage');
  }
}
