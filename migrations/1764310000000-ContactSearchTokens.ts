import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { isMysql } from './columns';

/**
 * The search index of contacts(query:) (issue 18): contact_search_token, one row per (agent, token, contact), and per
 * agent the tokenizer version its index was built with (`contact_sync.searchTokensVersion`). That is 0 for every agent
 * here before: their contacts have no tokens yet, so each agent's searches keep reading the contacts until its index
 * is built, on its first search (src/contacts/contact-search.ts).
 *
 * Written out per dialect: on MySQL/MariaDB the token is compared by code point (utf8mb4_bin; the table's other
 * columns as every table's, utf8mb4_unicode_ci), and SQLite keeps the rows in the primary key itself (WITHOUT ROWID).
 * The index on contactId serves the removal of a contact's tokens.
 */
export class ContactSearchTokens1764310000000 implements MigrationInterface {
  name = 'ContactSearchTokens1764310000000';

  async up(q: QueryRunner): Promise<void> {
    if (!(await q.hasTable('contact_search_token'))) {
      if (isMysql(q))
        await q.query(
          'CREATE TABLE `contact_search_token` (`agentId` varchar(36) NOT NULL, ' +
            '`token` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, ' +
            '`contactId` varchar(36) NOT NULL, `brokerageId` varchar(36) NOT NULL, ' +
            'PRIMARY KEY (`agentId`, `token`, `contactId`), ' +
            'INDEX `idx_contact_search_token_contact` (`contactId`)' +
            ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci',
        );
      else {
        await q.query(
          'CREATE TABLE "contact_search_token" ("agentId" varchar(36) NOT NULL, "token" varchar(64) NOT NULL, ' +
            '"contactId" varchar(36) NOT NULL, "brokerageId" varchar(36) NOT NULL, ' +
            'PRIMARY KEY ("agentId", "token", "contactId")) WITHOUT ROWID',
        );
        await q.query('CREATE INDEX "idx_contact_search_token_contact" ON "contact_search_token" ("contactId")');
      }
    }
    // Added in place: MariaDB 10.3+ instantly, SQLite without rebuilding the table.
    if (!(await q.hasColumn('contact_sync', 'searchTokensVersion'))) {
      if (isMysql(q)) await q.query('ALTER TABLE `contact_sync` ADD `searchTokensVersion` int NOT NULL DEFAULT 0');
      else await q.query('ALTER TABLE "contact_sync" ADD COLUMN "searchTokensVersion" integer NOT NULL DEFAULT (0)');
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('contact_search_token');
    if (isMysql(q)) await q.query('ALTER TABLE `contact_sync` DROP COLUMN `searchTokensVersion`');
    else await q.query('ALTER TABLE "contact_sync" DROP COLUMN "searchTokensVersion"');
  }
}
