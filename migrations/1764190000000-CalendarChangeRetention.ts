import { type MigrationInterface, type QueryRunner, TableColumn, TableIndex } from 'typeorm';

// Shapes match CalendarSyncRecord.changesPrunedThrough and CalendarChange's recordedAt index in
// src/entities/calendar.entities.ts. The change feed keeps CALENDAR_CHANGES_RETENTION_DAYS (calendar.sync.ts).

export class CalendarChangeRetention1764190000000 implements MigrationInterface {
  name = 'CalendarChangeRetention1764190000000';

  async up(q: QueryRunner): Promise<void> {
    // The highest seq of the agent's feed deleted for age: a cursor below it has missed changes.
    await q.addColumn('calendar_sync', new TableColumn({ name: 'changesPrunedThrough', type: 'integer', default: 0 }));
    // The retention sweep finds old rows by age.
    await q.createIndex(
      'calendar_change',
      new TableIndex({ name: 'idx_calendar_change_recorded', columnNames: ['recordedAt'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('calendar_change', 'idx_calendar_change_recorded');
    await q.dropColumn('calendar_sync', 'changesPrunedThrough');
  }
}
