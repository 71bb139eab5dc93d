/**
 * Replicas started together on a new database (a rollout, a scale-up) apply the migrations one process at a time:
 * a MySQL named lock serializes them, and the later ones find nothing left to do. Without it, two processes ran the
 * same migration at once and one failed its start-up.
 */
import { randomBytes } from 'node:crypto';
import * as mysql from 'mysql2/promise';
import { MIGRATIONS } from '../../migrations';
import { openDatabase } from '../../src/db/data-source';
import { mariaDbAvailable } from '../support/db';

(mariaDbAvailable() ? describe : describe.skip)('[mariadb] migrations at start-up', () => {
  test('three processes opening a new database at once: all start, each migration applied once', async () => {
    const root = process.env.TEST_MARIADB_URL!;
    const name = `t_mig_${randomBytes(4).toString('hex')}`;
    const admin = await mysql.createConnection(root);
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    try {
      const opened = await Promise.allSettled(
        [0, 1, 2].map(() => openDatabase({ kind: 'mysql', url: `${root}${name}` })),
      );
      for (const o of opened) if (o.status === 'fulfilled') await o.value.destroy();
      expect(opened.map((o) => (o.status === 'rejected' ? String(o.reason).slice(0, 200) : 'started'))).toEqual([
        'started',
        'started',
        'started',
      ]);
      const [rows] = await admin.query(`SELECT name FROM \`${name}\`.migrations ORDER BY id`);
      expect((rows as { name: string }[]).map((r) => r.name)).toEqual(MIGRATIONS.map((m) => new m().name));
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    }
  }, 60_000);
});
