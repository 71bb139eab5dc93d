import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Authorized, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { selects } from '../graphql/selection';
import type { CountedPage } from '../graphql/connection';
import type { GatewayContext } from '../context';
import { ContactType, MailSyncStatusType, SyncStatusType } from '../contacts/contact.type';
import { SendMailInput } from './mail.input';
import { MailConnectionType, MailRecipientType, MailType } from './mail.type';

@Resolver(() => MailType)
export class MailResolver {
  @Authorized()
  @Mutation(() => MailType, {
    description:
      'Sends a mail as the caller, through their Gmail (it lands in their Sent folder). Answers SENT, or QUEUED when Gmail has not taken it within a few seconds (it keeps trying), or FAILED with the reason.',
  })
  sendMail(@Ctx() ctx: GatewayContext, @Arg('input', () => SendMailInput) input: SendMailInput): Promise<MailType> {
    return ctx.services.mail.send(ctx.scope(), input);
  }

  @Authorized()
  @Query(() => MailConnectionType, { description: 'Mail the caller sent through the gateway, newest first.' })
  async sentMail(
    @Ctx() ctx: GatewayContext,
    @Arg('first', () => Int, { defaultValue: 50 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Info() info?: GraphQLResolveInfo,
  ): Promise<CountedPage<MailConnectionType>> {
    const page = await ctx.services.mail.list(ctx.scope(), { first, after });
    if (info && selects(info, ['edges', 'node', 'recipients', 'contact']))
      await ctx.attachContacts(page.edges.flatMap((e) => e.node.recipients));
    return page;
  }

  @Authorized()
  @Query(() => MailType, { nullable: true })
  mail(@Ctx() ctx: GatewayContext, @Arg('id', () => ID) id: string): Promise<MailType | null> {
    return ctx.services.mail.get(ctx.scope(), id);
  }
}

@Resolver(() => MailRecipientType)
export class MailRecipientResolver {
  @FieldResolver(() => ContactType, {
    nullable: true,
    description:
      "The caller's CRM contact with this email (contacts-by-email loader: one query for all recipients of a response).",
  })
  contact(@Root() r: MailRecipientType, @Ctx() ctx: GatewayContext): ContactType | null | Promise<ContactType | null> {
    // Attached by the list for all its recipients (sentMail), or looked up here (one loader batch per response).
    return r.contact !== undefined ? r.contact : ctx.contactByEmail(r.email);
  }
}

@Resolver(() => SyncStatusType)
export class MailStatusResolver {
  @FieldResolver(() => MailSyncStatusType)
  async mail(@Ctx() ctx: GatewayContext): Promise<MailSyncStatusType> {
    const scope = ctx.scope();
    return {
      id: `${scope.agentId}/mail`,
      error: await ctx.keyProblem('mail'),
      queued: await ctx.services.mail.queuedCount(scope),
    };
  }
}
