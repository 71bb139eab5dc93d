import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { id, str, text, ts, int, pk, useUtf8mb4 } from './columns';

// Dialect-neutral (Table API); shapes match src/entities/mail.entities.ts.

const TABLES = ['sent_mail', 'mail_recipient', 'mail_mime_chunk'];

export class Mail1764170000000 implements MigrationInterface {
  name = 'Mail1764170000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'sent_mail',
        columns: [
          pk(id('id')),
          id('brokerageId'),
          id('agentId'),
          str('idempotencyKey', 128, true),
          str('idempotencyKeyHash', 64, true),
          str('requestHash', 64),
          str('status', 16),
          str('phase', 16, true),
          str('deliveryToken', 36, true),
          str('fromAddress', 320),
          text('subject'),
          str('messageIdHeader', 320),
          text('referencesHeader', true),
          id('replyToMailId', true),
          text('attachments'),
          int('sizeBytes'),
          str('gmailDraftId', 64, true),
          str('gmailMessageId', 64, true),
          str('threadId', 64, true),
          str('failureCode', 40, true),
          text('failureReason', true),
          ts('createdAt'),
          ts('sentAt', true),
          ts('updatedAt'),
        ],
        indices: [
          new TableIndex({
            name: 'uq_sent_mail_idempotency',
            columnNames: ['agentId', 'idempotencyKeyHash'],
            isUnique: true,
          }),
          new TableIndex({ name: 'idx_sent_mail_agent_created', columnNames: ['agentId', 'createdAt', 'id'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'mail_recipient',
        columns: [pk(id('mailId')), pk(int('position')), str('kind', 3), str('email', 320), str('name', 255, true)],
      }),
    );
    await q.createTable(
      new Table({
        name: 'mail_mime_chunk',
        columns: [pk(id('mailId')), pk(int('seq')), text('data')],
      }),
    );
    await useUtf8mb4(q, TABLES);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [...TABLES].reverse()) await q.dropTable(t);
  }
}
