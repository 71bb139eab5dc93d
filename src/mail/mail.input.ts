import { Field, ID, InputType } from 'type-graphql';

/** Checked in mail.compose.ts (one precise message per problem), not with decorators: the rules need the config. */
@InputType('MailAttachmentInput')
export class MailAttachmentInput {
  @Field({ description: 'File name shown to the recipient, e.g. "Offer – 12 Elm St.pdf".' })
  filename: string;

  @Field({ description: 'Media type, e.g. "application/pdf".' })
  contentType: string;

  @Field({ description: "The file's bytes, base64 (standard alphabet; line breaks allowed)." })
  contentBase64: string;
}

@InputType('SendMailInput')
export class SendMailInput {
  @Field(() => [String], {
    nullable: true,
    description: 'RFC 5322 addresses, one per entry; display names allowed: "Zoë Buyer <zoe@buyer.test>".',
  })
  to?: string[] | null;

  @Field(() => [String], { nullable: true })
  cc?: string[] | null;

  @Field(() => [String], {
    nullable: true,
    description: "Delivered, and kept in the agent's Sent copy, but not shown to the other recipients.",
  })
  bcc?: string[] | null;

  @Field(() => String, {
    nullable: true,
    description: 'Defaults to "Re: <subject of the mail replied to>" for replies, else empty.',
  })
  subject?: string | null;

  @Field(() => String, { nullable: true, description: 'Plain-text body.' })
  text?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'HTML body; without `text`, a text alternative is made from it.',
  })
  html?: string | null;

  @Field(() => [MailAttachmentInput], { nullable: true })
  attachments?: MailAttachmentInput[] | null;

  @Field(() => ID, {
    nullable: true,
    description: 'A Mail of yours this one answers: same Gmail thread, In-Reply-To and References set.',
  })
  replyToMailId?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Your key for this send (e.g. a UUID): sending again with the same key returns the first Mail and never sends twice. The same key with a different mail is a CONFLICT.',
  })
  idempotencyKey?: string | null;
}
