import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { id, int, pk, useUtf8mb4 } from './columns';

// Shape matches CalendarCacheGeneration in src/entities/calendar.entities.ts.

export class CalendarCacheGeneration1764180000000 implements MigrationInterface {
  name = 'CalendarCacheGeneration1764180000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({ name: 'calendar_cache_generation', columns: [pk(id('agentId')), int('generation')] }),
    );
    await useUtf8mb4(q, ['calendar_cache_generation']);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('calendar_cache_generation');
  }
}
