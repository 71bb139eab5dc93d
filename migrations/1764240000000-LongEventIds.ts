import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';
import { isMysql, keepingSequence } from './columns';

const TABLES = ['calendar_event', 'calendar_change', 'calendar_known'];

/**
 * Google event ids are stored whole, up to Google's 1,024 characters (src/entities/calendar.entities.ts,
 * EVENT_ID_LENGTH): they were cut at 255, so two ids sharing a long prefix became one event and the change feed told
 * truncated ids. On MySQL/MariaDB the column is ASCII with a binary collation (ids are base32hex; 1,024 bytes fit an
 * index key where utf8mb4 would not).
 */
export class LongEventIds1764240000000 implements MigrationInterface {
  name = 'LongEventIds1764240000000';

  async up(q: QueryRunner): Promise<void> {
    if (isMysql(q)) {
      for (const t of TABLES)
        await q.query(
          `ALTER TABLE \`${t}\` MODIFY \`googleEventId\` VARCHAR(1024) CHARACTER SET ascii COLLATE ascii_bin NOT NULL`,
        );
      return;
    }
    await keepingSequence(q, async () => {
      for (const t of TABLES) await q.changeColumn(t, 'googleEventId', column(t, 1024));
    });
  }

  async down(q: QueryRunner): Promise<void> {
    if (isMysql(q)) {
      for (const t of TABLES) {
        await q.query(
          `UPDATE \`${t}\` SET \`googleEventId\` = LEFT(\`googleEventId\`, 255) WHERE CHAR_LENGTH(\`googleEventId\`) > 255`,
        );
        await q.query(
          `ALTER TABLE \`${t}\` MODIFY \`googleEventId\` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL`,
        );
      }
      return;
    }
    await keepingSequence(q, async () => {
      for (const t of TABLES) await q.changeColumn(t, 'googleEventId', column(t, 255));
    });
  }
}

function column(table: string, length: number): TableColumn {
  return new TableColumn({
    name: 'googleEventId',
    type: 'varchar',
    length: String(length),
    isPrimary: table === 'calendar_known',
  });
}
