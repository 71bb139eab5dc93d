import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';
import { isMysql } from './columns';

const NAME_COLUMNS = ['givenName', 'familyName', 'organization', 'jobTitle'];

/**
 * Values Google keeps are stored whole (issue 13, item 4). On MySQL/MariaDB every TEXT column of ours becomes
 * MEDIUMTEXT (16 MiB; TEXT holds 64 KB) and a contact's names and organization, varchar(200) until now, become text
 * too: one contact with a 100 KB note or a 300-character name failed its page of every sync, and the sync token never
 * advanced. The entities declare these columns `text`; src/db/data-source.ts reads that as MEDIUMTEXT on MySQL.
 * Each table is altered in one statement (InnoDB copies the table once).
 */
export class LargeValues1764210000000 implements MigrationInterface {
  name = 'LargeValues1764210000000';

  async up(q: QueryRunner): Promise<void> {
    if (!isMysql(q)) {
      // SQLite stores any length in either type; only the declared type changes (typeorm rebuilds the table once).
      await q.changeColumns(
        'contact',
        NAME_COLUMNS.map((name) => ({
          oldColumn: new TableColumn({ name, type: 'varchar', length: '200', isNullable: true }),
          newColumn: new TableColumn({ name, type: 'text', isNullable: true }),
        })),
      );
      return;
    }
    const columns = await textColumns(q, 'text');
    for (const c of NAME_COLUMNS) columns.push({ table: 'contact', column: c, nullable: true });
    await alterEach(q, columns, 'MEDIUMTEXT');
  }

  async down(q: QueryRunner): Promise<void> {
    if (!isMysql(q)) {
      await q.changeColumns(
        'contact',
        NAME_COLUMNS.map((name) => ({
          oldColumn: new TableColumn({ name, type: 'text', isNullable: true }),
          newColumn: new TableColumn({ name, type: 'varchar', length: '200', isNullable: true }),
        })),
      );
      return;
    }
    // Back to the old limits, cutting what no longer fits (MariaDB's strict mode refuses to truncate by itself).
    for (const c of NAME_COLUMNS)
      await q.query(`UPDATE contact SET \`${c}\` = LEFT(\`${c}\`, 200) WHERE CHAR_LENGTH(\`${c}\`) > 200`);
    const wide = (await textColumns(q, 'mediumtext')).filter(
      (c) => !(c.table === 'contact' && NAME_COLUMNS.includes(c.column)),
    );
    for (const c of wide)
      await q.query(
        `UPDATE \`${c.table}\` SET \`${c.column}\` = LEFT(\`${c.column}\`, 16383) WHERE LENGTH(\`${c.column}\`) > 65535`,
      );
    await alterEach(q, wide, 'TEXT');
    await alterEach(
      q,
      NAME_COLUMNS.map((column) => ({ table: 'contact', column, nullable: true })),
      'VARCHAR(200)',
    );
  }
}

interface TextColumn {
  table: string;
  column: string;
  nullable: boolean;
}

/** This schema's columns of one type, in the tables the entities own (not typeorm's `migrations`). */
async function textColumns(q: QueryRunner, dataType: 'text' | 'mediumtext'): Promise<TextColumn[]> {
  const tables = q.connection.entityMetadatas.map((m) => m.tableName);
  const rows: { t: string; c: string; n: string }[] = await q.query(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS c, IS_NULLABLE AS n FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND DATA_TYPE = ? AND TABLE_NAME IN (${tables.map(() => '?').join(', ')})
      ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    [dataType, ...tables],
  );
  return rows.map((r) => ({ table: r.t, column: r.c, nullable: r.n === 'YES' }));
}

async function alterEach(q: QueryRunner, columns: TextColumn[], type: string): Promise<void> {
  const byTable = new Map<string, TextColumn[]>();
  for (const c of columns) byTable.set(c.table, [...(byTable.get(c.table) ?? []), c]);
  for (const [table, cols] of byTable) {
    await q.query(
      `ALTER TABLE \`${table}\` ${cols.map((c) => `MODIFY \`${c.column}\` ${type} ${c.nullable ? 'NULL' : 'NOT NULL'}`).join(', ')}`,
    );
  }
}
