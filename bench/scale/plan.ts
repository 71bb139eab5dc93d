/**
 * The SQL the gateway really runs, and MariaDB's plan for it: the general log (to the mysql.general_log table) is on
 * around `run` only, the SELECTs naming `term` are taken from it, and each is EXPLAINed (and ANALYZEd, for the rows
 * MariaDB really read: r_rows) on the bench's own connection to the same database.
 */
import type { DataSource } from 'typeorm';

export interface Plan {
  /** As the log shows them. */
  sql: string[];
  /** Per statement, per plan row: "table type key rows r_rows Extra". */
  rows: string[][];
}

export async function capturePlan(ds: DataSource, term: string, run: () => Promise<unknown>): Promise<Plan> {
  const [{ output }] = (await ds.query('SELECT @@GLOBAL.log_output AS output')) as { output: string }[];
  await ds.query("SET GLOBAL log_output = 'TABLE'");
  await ds.query('TRUNCATE TABLE mysql.general_log');
  await ds.query('SET GLOBAL general_log = 1');
  try {
    await run();
  } finally {
    await ds.query('SET GLOBAL general_log = 0');
  }
  const logged = (await ds.query(
    "SELECT CONVERT(argument USING utf8mb4) AS statement FROM mysql.general_log WHERE command_type = 'Query' ORDER BY event_time",
  )) as { statement: string }[];
  await ds.query('TRUNCATE TABLE mysql.general_log');
  await ds.query('SET GLOBAL log_output = ?', [output]);
  const sql = logged.map((l) => l.statement).filter((s) => /^\s*select\b/i.test(s) && s.toLowerCase().includes(term));
  const rows: string[][] = [];
  for (const s of sql) {
    // The log is utf8mb3: it writes a character beyond the BMP (a prefix range's U+10FFFF) as \xF4\x8F\xBF\xBF.
    const statement = s.replace(/(?:\\x[0-9A-F]{2})+/g, (m) =>
      Buffer.from(
        m
          .slice(2)
          .split('\\x')
          .map((h) => parseInt(h, 16)),
      ).toString('utf8'),
    );
    const explained = (await ds.query(`EXPLAIN ${statement}`)) as Record<string, unknown>[];
    const analyzed = (await ds.query(`ANALYZE ${statement}`)) as Record<string, unknown>[];
    rows.push(
      explained.map(
        (e, i) =>
          `${String(e.table)}: type ${String(e.type)}, key ${String(e.key)}, rows ${String(e.rows)}, ` +
          `r_rows ${String(analyzed[i]?.r_rows)}${e.Extra ? `, ${String(e.Extra)}` : ''}`,
      ),
    );
  }
  return { sql, rows };
}
