import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Keys replaced before replaced keys were erased kept their secret (ciphertext and wrapped data key) in RETIRED rows,
 * so a leaked key that had been replaced stayed in the database and its backups. Every RETIRED row is emptied now, as
 * the onboarding service does from now on in the transaction that takes a key out of use. There is no way back.
 */
export class EraseRetiredKeys1764200000000 implements MigrationInterface {
  name = 'EraseRetiredKeys1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      "UPDATE service_account_credential SET wrappedKey = '', ciphertext = '' WHERE status = 'RETIRED' AND (wrappedKey <> '' OR ciphertext <> '')",
    );
  }

  async down(): Promise<void> {
    // An erased secret cannot be restored.
  }
}
