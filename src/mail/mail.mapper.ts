/** A stored mail and its recipients as the API shows them (MailType). */
import type { MailRecipient, SentMail } from '../entities';
import { MailRecipientKindEnum, MailStatusEnum, type MailType } from './mail.type';

/** The columns a client's view of a mail is made of (toMailType); a page reads only these. */
export const MAIL_VIEW_COLUMNS = [
  'id',
  'status',
  'gmailMessageId',
  'threadId',
  'messageIdHeader',
  'fromAddress',
  'subject',
  'attachments',
  'sizeBytes',
  'failureCode',
  'failureReason',
  'replyToMailId',
  'idempotencyKey',
  'createdAt',
  'sentAt',
] as const satisfies readonly (keyof SentMail)[];

type MailView = Pick<SentMail, (typeof MAIL_VIEW_COLUMNS)[number]>;
export type RecipientView = Pick<MailRecipient, 'position' | 'kind' | 'email' | 'name'>;

export function toMailType(m: MailView, recipients: RecipientView[]): MailType {
  const sorted = [...recipients].sort((a, b) => a.position - b.position);
  const shown = (r: RecipientView) => (r.name ? `${r.name} <${r.email}>` : r.email);
  const failure = m.failureCode ? { code: m.failureCode, message: m.failureReason ?? '' } : null;
  return {
    id: m.id,
    gmailMessageId: m.status === 'SENT' ? m.gmailMessageId : null,
    threadId: m.status === 'SENT' ? m.threadId : null,
    messageId: m.messageIdHeader,
    from: m.fromAddress,
    to: sorted.filter((r) => r.kind === 'to').map(shown),
    cc: sorted.filter((r) => r.kind === 'cc').map(shown),
    bcc: sorted.filter((r) => r.kind === 'bcc').map(shown),
    recipients: sorted.map((r) => ({
      kind: r.kind.toUpperCase() as MailRecipientKindEnum,
      email: r.email,
      name: r.name,
    })),
    subject: m.subject,
    attachments: JSON.parse(m.attachments),
    sizeBytes: m.sizeBytes,
    status: MailStatusEnum[m.status],
    failure,
    replyToMailId: m.replyToMailId,
    idempotencyKey: m.idempotencyKey,
    createdAt: m.createdAt,
    sentAt: m.sentAt,
  };
}
