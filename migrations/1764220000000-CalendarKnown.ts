import { type MigrationInterface, MoreThan, type QueryRunner, Table } from 'typeorm';
import { knownStateOf } from '../src/calendar/known-events';
import { batches } from '../src/db/batches';
import { CalendarChange, CalendarKnown } from '../src/entities';
import { id, pk, str, ts, useUtf8mb4 } from './columns';

/**
 * calendar_known (src/entities/calendar.entities.ts): what the change feed last told each agent's clients about each
 * event, which a full resync after a 410 reconciles against (src/calendar/known-events.ts). Filled from the feed as it
 * stands: per agent and event, the latest change kept by the retention.
 */
export class CalendarKnown1764220000000 implements MigrationInterface {
  name = 'CalendarKnown1764220000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'calendar_known',
        columns: [
          pk(id('agentId')),
          pk(str('googleEventId', 255)),
          str('etag', 255, true),
          str('status', 16),
          ts('endsAt', true),
          ts('recordedAt'),
        ],
      }),
    );
    await useUtf8mb4(q, ['calendar_known']);
    // Through the entities, which convert dates for each dialect (SQLite keeps them as text).
    const changes = q.manager.getRepository(CalendarChange);
    const agents: { agentId: string }[] = await changes
      .createQueryBuilder('c')
      .select('DISTINCT c.agentId', 'agentId')
      .getRawMany();
    for (const { agentId } of agents) {
      const latest = new Map<string, Omit<CalendarKnown, 'brokerageId'>>();
      for (let after = 0; ;) {
        // The columns named: a later migration adds others that do not exist yet at this point.
        const rows = await changes.find({
          select: { seq: true, googleEventId: true, event: true, recordedAt: true },
          where: { agentId, seq: MoreThan(after) },
          order: { seq: 'ASC' },
          take: 1000,
        });
        if (!rows.length) break;
        for (const r of rows) {
          let state;
          try {
            state = knownStateOf(JSON.parse(r.event));
          } catch {
            continue; // not JSON: nothing to compare with; the next resync records the event again
          }
          latest.set(r.googleEventId, { agentId, googleEventId: r.googleEventId, ...state, recordedAt: r.recordedAt });
        }
        after = rows[rows.length - 1].seq;
      }
      for (const batch of batches([...latest.values()], 500)) {
        await q.manager
          .createQueryBuilder()
          .insert()
          .into(CalendarKnown, ['agentId', 'googleEventId', 'etag', 'status', 'endsAt', 'recordedAt'])
          .values(batch)
          .execute();
      }
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('calendar_known');
  }
}
