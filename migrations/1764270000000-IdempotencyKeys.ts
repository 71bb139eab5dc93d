import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { id, int, isMysql, pk, str, ts, useUtf8mb4 } from './columns';

/**
 * Mobile retries never duplicate (issue 15): idempotency_key holds what a creating mutation's key created, and
 * contact_tombstone remembers contacts gone from the mirror, so a repeated delete answers true and the change feed
 * reports them (contactChanges).
 */
export class IdempotencyKeys1764270000000 implements MigrationInterface {
  name = 'IdempotencyKeys1764270000000';

  async up(q: QueryRunner): Promise<void> {
    if (!(await q.hasTable('idempotency_key'))) {
      await q.createTable(
        new Table({
          name: 'idempotency_key',
          // MEDIUMTEXT on MySQL as every text column of the entities (src/db/data-source.ts).
          columns: [
            pk(id('agentId')),
            pk(str('keyHash', 64)),
            id('brokerageId'),
            str('operation', 32),
            str('requestHash', 64),
            { name: 'result', type: isMysql(q) ? 'mediumtext' : 'text' },
            ts('createdAt'),
          ],
          indices: [new TableIndex({ name: 'idx_idempotency_key_created', columnNames: ['agentId', 'createdAt'] })],
        }),
      );
      await useUtf8mb4(q, ['idempotency_key']);
    }
    if (!(await q.hasTable('contact_tombstone'))) {
      await q.createTable(
        new Table({
          name: 'contact_tombstone',
          columns: [pk(id('contactId')), id('brokerageId'), id('agentId'), int('changeSeq'), ts('deletedAt')],
          indices: [
            new TableIndex({ name: 'idx_contact_tombstone_deleted', columnNames: ['deletedAt'] }),
            new TableIndex({
              name: 'idx_contact_tombstone_changes',
              columnNames: ['agentId', 'changeSeq', 'contactId'],
            }),
          ],
        }),
      );
      await useUtf8mb4(q, ['contact_tombstone']);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('contact_tombstone');
    await q.dropTable('idempotency_key');
  }
}
