import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

export class Onboarding1764140000000 implements MigrationInterface {
  name = 'Onboarding1764140000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('service_account_credential', [
      new TableColumn({ name: 'testEmail', type: 'varchar', length: '320', isNullable: true }),
      new TableColumn({ name: 'grantedScopes', type: 'text', isNullable: true }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('service_account_credential', 'grantedScopes');
    await q.dropColumn('service_account_credential', 'testEmail');
  }
}
