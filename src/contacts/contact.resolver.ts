import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Authorized, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { selects } from '../graphql/selection';
import type { CountedPage } from '../graphql/connection';
import type { GatewayContext } from '../context';
import { ContactInput, ContactPatch } from './contact.input';
import { IDEMPOTENCY_KEY_DOC, keyed } from '../idempotency/idempotency';
import { toContactType } from './contact.service';
import {
  ContactChangeConnectionType,
  ContactConnectionType,
  ContactType,
  SyncStateEnum,
  SyncStatusType,
} from './contact.type';

@Resolver(() => ContactType)
export class ContactResolver {
  @FieldResolver(() => String, {
    nullable: true,
    description:
      'Why Google does not have the change (FAILED: refused; PENDING: what holds it back, e.g. the brokerage has no key).',
  })
  syncError(@Root() c: ContactType, @Ctx() ctx: GatewayContext): string | null | Promise<string | null> {
    // Answered at once unless PENDING (the reason may then be the brokerage's key): a promise per contact of a page
    // would send every contact through graphql-js's slower asynchronous completion.
    return c.syncState === SyncStateEnum.PENDING ? ctx.syncErrorOf('contacts', c) : c.syncError;
  }

  @Authorized()
  @Query(() => ContactConnectionType, {
    description:
      'The caller\'s contacts, from the mirror (synced with Google first when older than the freshness window). query: matches names, nicknames, emails, phones, organization, title and addresses (street, city, region, postal code, country); every word of the query must begin a word of the contact, in any order, ignoring case and accents ("smith p" finds Pat Smith, "zoe" finds Zoë, "mit" does not find Smith); an email\'s parts after its punctuation count as words ("x.com"); a phone number as typed matches a number\'s digits from any position ("4567"). At most 200 characters. label: only that label\'s contacts.',
  })
  contacts(
    @Ctx() ctx: GatewayContext,
    @Arg('first', () => Int, { defaultValue: 50 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('query', () => String, { nullable: true }) query?: string | null,
    @Arg('label', () => ID, {
      nullable: true,
      description: "Only the contacts in this label (contactLabels); another agent's or a deleted label is NOT_FOUND.",
    })
    label?: string | null,
    @Info() info?: GraphQLResolveInfo,
  ): Promise<CountedPage<ContactConnectionType>> {
    const labels =
      info !== undefined && (selects(info, ['edges', 'node', 'labels']) || selects(info, ['edges', 'node', 'starred']));
    const memberCounts = labels && selects(info!, ['edges', 'node', 'labels', 'memberCount']);
    return ctx.services.contacts.list(ctx.scope(), { first, after, query, label }, { labels, memberCounts });
  }

  @Authorized()
  @Query(() => ContactChangeConnectionType, {
    description:
      "Every change of the caller's contacts (created, updated, deleted; here or in Google) after the cursor, oldest first, each contact as it is now. Start with no cursor (everything), keep endCursor and pass it back as after. A cursor older than the feed keeps deletes for (CONTACT_CHANGES_RETENTION_DAYS) is BAD_USER_INPUT with reason cursor_expired: re-read contacts and continue from extensions.resyncCursor.",
  })
  contactChanges(
    @Ctx() ctx: GatewayContext,
    @Arg('first', () => Int, { defaultValue: 100 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ): Promise<ContactChangeConnectionType> {
    return ctx.services.contacts.changes(ctx.scope(), { first, after });
  }

  @Authorized()
  @Query(() => ContactType, { nullable: true })
  async contact(@Ctx() ctx: GatewayContext, @Arg('id', () => ID) id: string): Promise<ContactType | null> {
    const c = await ctx.loaders().contacts.byId.load(id); // the loader makes the mirror fresh first
    return c ? toContactType(c) : null;
  }

  @Authorized()
  @Mutation(() => ContactType, {
    description:
      'Creates the contact here and in Google (syncState SYNCED when Google confirmed in time, else PENDING).',
  })
  createContact(
    @Ctx() ctx: GatewayContext,
    @Arg('input', () => ContactInput) input: ContactInput,
    @Arg('idempotencyKey', () => String, { nullable: true, description: IDEMPOTENCY_KEY_DOC })
    idempotencyKey?: string | null,
  ): Promise<ContactType> {
    return ctx.services.contacts.create(ctx.scope(), input, idempotencyKey);
  }

  @Authorized()
  @Mutation(() => [ContactType], {
    description: 'Creates up to 1000 contacts at once (imports); they reach Google in batches of 200.',
  })
  createContacts(
    @Ctx() ctx: GatewayContext,
    @Arg('input', () => [ContactInput]) input: ContactInput[],
    @Arg('idempotencyKey', () => String, { nullable: true, description: IDEMPOTENCY_KEY_DOC })
    idempotencyKey?: string | null,
  ): Promise<ContactType[]> {
    return ctx.services.contacts.createMany(ctx.scope(), input, keyed('createContacts', idempotencyKey, input));
  }

  @Authorized()
  @Mutation(() => ContactType)
  updateContact(
    @Ctx() ctx: GatewayContext,
    @Arg('id', () => ID) id: string,
    @Arg('input', () => ContactPatch) input: ContactPatch,
  ): Promise<ContactType> {
    return ctx.services.contacts.update(ctx.scope(), id, input);
  }

  @Authorized()
  @Mutation(() => Boolean)
  deleteContact(@Ctx() ctx: GatewayContext, @Arg('id', () => ID) id: string): Promise<boolean> {
    return ctx.services.contacts.delete(ctx.scope(), [id]);
  }

  @Authorized()
  @Mutation(() => Boolean, { description: 'Deletes up to 1000 contacts at once; they leave Google in batches of 500.' })
  deleteContacts(@Ctx() ctx: GatewayContext, @Arg('ids', () => [ID]) ids: string[]): Promise<boolean> {
    return ctx.services.contacts.delete(ctx.scope(), ids);
  }

  @Authorized()
  @Mutation(() => SyncStatusType, { description: "Syncs the caller's contacts with Google now." })
  syncContacts(@Ctx() ctx: GatewayContext): Promise<SyncStatusType> {
    return ctx.services.contacts.syncNow(ctx.scope());
  }

  @Authorized()
  @Query(() => SyncStatusType)
  async syncStatus(@Ctx() ctx: GatewayContext): Promise<SyncStatusType> {
    return ctx.services.contacts.status(ctx.scope(), await ctx.keyProblem('contacts'));
  }
}
