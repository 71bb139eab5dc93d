import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { id, str, text, ts, int, pk, serial, useUtf8mb4 } from './columns';

// Dialect-neutral (Table API); shapes match src/entities/calendar.entities.ts.

const TABLES = ['calendar_event', 'calendar_sync', 'calendar_change', 'calendar_channel'];

export class Calendar1764160000000 implements MigrationInterface {
  name = 'Calendar1764160000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'calendar_event',
        columns: [
          pk(id('id')),
          id('brokerageId'),
          id('agentId'),
          str('googleEventId', 255),
          str('etag', 255, true),
          str('pendingOp', 16, true),
          text('body', true),
          str('baseEtag', 255, true),
          text('event', true),
          str('syncState', 16),
          text('syncError', true),
          text('conflicts', true),
          ts('createdAt'),
          ts('updatedAt'),
        ],
        indices: [
          new TableIndex({ name: 'uq_calendar_event', columnNames: ['agentId', 'googleEventId'], isUnique: true }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'calendar_sync',
        columns: [
          pk(id('agentId')),
          id('brokerageId'),
          text('syncToken', true),
          ts('lastSyncAt', true),
          ts('lastFullSyncAt', true),
          int('fullSyncs'),
          str('lastFullSyncReason', 64, true),
          ts('staleSince', true),
          text('lastError', true),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'calendar_change',
        columns: [
          serial('seq'),
          id('agentId'),
          str('googleEventId', 255),
          str('status', 16),
          text('event'),
          ts('recordedAt'),
        ],
        indices: [new TableIndex({ name: 'idx_calendar_change_agent', columnNames: ['agentId', 'seq'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'calendar_channel',
        columns: [
          pk(str('id', 64)),
          id('brokerageId'),
          id('agentId'),
          str('resourceId', 255),
          str('tokenDigest', 64),
          ts('expiration'),
          ts('createdAt'),
        ],
        indices: [new TableIndex({ name: 'idx_calendar_channel_agent', columnNames: ['agentId'] })],
      }),
    );
    await useUtf8mb4(q, TABLES);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [...TABLES].reverse()) await q.dropTable(t);
  }
}
