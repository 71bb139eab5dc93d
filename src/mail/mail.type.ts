import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { PageInfoType, type Count } from '../graphql/connection';
import type { ContactType } from '../contacts/contact.type';

export enum MailStatusEnum {
  QUEUED = 'QUEUED',
  SENT = 'SENT',
  FAILED = 'FAILED',
}
registerEnumType(MailStatusEnum, {
  name: 'MailStatus',
  description:
    "QUEUED: accepted, on its way to Gmail (retried through outages and rate limits); SENT: in the agent's Sent folder; FAILED: Gmail refused it (see failure).",
});

export enum MailRecipientKindEnum {
  TO = 'TO',
  CC = 'CC',
  BCC = 'BCC',
}
registerEnumType(MailRecipientKindEnum, { name: 'MailRecipientKind' });

@ObjectType('MailRecipient', { simpleResolvers: true })
export class MailRecipientType {
  @Field(() => MailRecipientKindEnum)
  kind: MailRecipientKindEnum;

  @Field()
  email: string;

  @Field(() => String, { nullable: true })
  name: string | null;

  /** Attached by sentMail for all its recipients when asked for (MailRecipientResolver.contact): not a field. */
  contact?: ContactType | null;
}

@ObjectType('MailAttachment', { simpleResolvers: true })
export class MailAttachmentType {
  @Field()
  filename: string;

  @Field()
  contentType: string;

  @Field(() => Int, { description: 'Bytes.' })
  size: number;
}

@ObjectType('MailFailure', { simpleResolvers: true })
export class MailFailureType {
  @Field({ description: 'An error code (BAD_USER_INPUT, GOOGLE_NOT_CONFIGURED, …).' })
  code: string;

  @Field()
  message: string;
}

@ObjectType('Mail', {
  simpleResolvers: true,
  description: 'A mail the agent sent (or is sending) through the gateway.',
})
export class MailType {
  @Field(() => ID)
  id: string;

  @Field(() => String, { nullable: true, description: "Gmail's message id once sent." })
  gmailMessageId: string | null;

  @Field(() => String, { nullable: true, description: "Gmail's thread id once sent (replies join it)." })
  threadId: string | null;

  @Field(() => String, { description: 'The Message-ID header.' })
  messageId: string;

  @Field()
  from: string;

  @Field(() => [String])
  to: string[];

  @Field(() => [String])
  cc: string[];

  @Field(() => [String])
  bcc: string[];

  @Field(() => [MailRecipientType], { description: 'Every address, with its CRM contact (`contact`).' })
  recipients: MailRecipientType[];

  @Field()
  subject: string;

  @Field(() => [MailAttachmentType])
  attachments: MailAttachmentType[];

  @Field(() => Int, { description: 'Size of the message as sent, bytes.' })
  sizeBytes: number;

  @Field(() => MailStatusEnum)
  status: MailStatusEnum;

  @Field(() => MailFailureType, {
    nullable: true,
    description: 'FAILED: why, and what to do. QUEUED: the last transient problem, if any.',
  })
  failure: MailFailureType | null;

  @Field(() => ID, { nullable: true })
  replyToMailId: string | null;

  @Field(() => String, { nullable: true, description: 'The idempotency key it was sent with.' })
  idempotencyKey: string | null;

  @Field(() => Date)
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  sentAt: Date | null;
}

@ObjectType('MailEdge', { simpleResolvers: true })
export class MailEdgeType {
  @Field()
  cursor: string;

  @Field(() => MailType)
  node: MailType;
}

@ObjectType('MailConnection', { simpleResolvers: true })
export class MailConnectionType {
  @Field(() => [MailEdgeType])
  edges: MailEdgeType[];

  @Field(() => PageInfoType)
  pageInfo: PageInfoType;

  /** Counts the list when asked for (graphql/connection.ts, Count). */
  count: Count;

  @Field(() => Int)
  totalCount(): Promise<number> {
    return this.count();
  }
}
