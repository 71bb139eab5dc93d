import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { isMysql } from './columns';

/**
 * A contact's details beyond the first release's fields (name parts, nicknames, addresses, birthday, events,
 * relations, urls) in `contact.details`, and per agent the People `personFields` its mirror and sync token were made
 * with (`contact_sync.personFields`): null for every agent here before, so each agent's next sync is one full sync
 * that fills the details in (src/contacts/contact.sync.ts), instead of a sync token Google would refuse.
 */
export class ContactDetails1764290000000 implements MigrationInterface {
  name = 'ContactDetails1764290000000';

  async up(q: QueryRunner): Promise<void> {
    // Both added in place: MariaDB 10.3+ instantly, SQLite without rebuilding the table. MEDIUMTEXT as every text
    // column on MySQL (LargeValues).
    if (!(await q.hasColumn('contact', 'details'))) {
      if (isMysql(q)) await q.query('ALTER TABLE `contact` ADD `details` MEDIUMTEXT NULL');
      else await q.query('ALTER TABLE "contact" ADD COLUMN "details" text NULL');
    }
    if (!(await q.hasColumn('contact_sync', 'personFields'))) {
      if (isMysql(q)) await q.query('ALTER TABLE `contact_sync` ADD `personFields` varchar(512) NULL');
      else await q.query('ALTER TABLE "contact_sync" ADD COLUMN "personFields" varchar(512) NULL');
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [table, column] of [
      ['contact', 'details'],
      ['contact_sync', 'personFields'],
    ]) {
      if (isMysql(q)) await q.query(`ALTER TABLE \`${table}\` DROP COLUMN \`${column}\``);
      else await q.query(`ALTER TABLE "${table}" DROP COLUMN "${column}"`);
    }
  }
}
