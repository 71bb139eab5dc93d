import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../context';
import type { LabelView } from './contact.loader';
import { STARRED } from './contact-label.mirror';
import { toLabelType } from './contact-label.service';
import { ContactLabelType } from './contact-label.type';
import { ContactType } from './contact.type';

@Resolver(() => ContactLabelType)
export class ContactLabelResolver {
  @Authorized()
  @Query(() => [ContactLabelType], {
    description:
      'The caller\'s labels (Google contact groups) with how many contacts each has: Google\'s "My Contacts" and "Starred" first (read-only), then the caller\'s own by name. Synced with Google first when older than the freshness window.',
  })
  contactLabels(@Ctx() ctx: GatewayContext): Promise<ContactLabelType[]> {
    return ctx.services.labels.list(ctx.scope());
  }

  @Authorized()
  @Mutation(() => ContactLabelType, {
    description:
      'Creates a label here and in Google (a contact group). A name another label has (whatever its case) is BAD_USER_INPUT with extensions.existingId.',
  })
  createContactLabel(@Ctx() ctx: GatewayContext, @Arg('name') name: string): Promise<ContactLabelType> {
    return ctx.services.labels.create(ctx.scope(), name);
  }

  @Authorized()
  @Mutation(() => ContactLabelType)
  renameContactLabel(
    @Ctx() ctx: GatewayContext,
    @Arg('id', () => ID) id: string,
    @Arg('name') name: string,
  ): Promise<ContactLabelType> {
    return ctx.services.labels.rename(ctx.scope(), id, name);
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description:
      'Deletes a label here and in Google; its contacts stay (they leave the label). Deleting it again answers true.',
  })
  deleteContactLabel(@Ctx() ctx: GatewayContext, @Arg('id', () => ID) id: string): Promise<boolean> {
    return ctx.services.labels.delete(ctx.scope(), id);
  }

  @Authorized()
  @Mutation(() => ContactLabelType, {
    description:
      'Adds up to 1000 contacts to a label; Google gets them in contactGroups.members.modify calls of up to 1000. Contacts already in it stay as they are.',
  })
  addContactsToLabel(
    @Ctx() ctx: GatewayContext,
    @Arg('labelId', () => ID) labelId: string,
    @Arg('contactIds', () => [ID]) contactIds: string[],
  ): Promise<ContactLabelType> {
    return ctx.services.labels.addContacts(ctx.scope(), labelId, contactIds);
  }

  @Authorized()
  @Mutation(() => ContactLabelType, {
    description:
      'Removes up to 1000 contacts from a label (the contacts stay). Contacts not in it are left as they are.',
  })
  removeContactsFromLabel(
    @Ctx() ctx: GatewayContext,
    @Arg('labelId', () => ID) labelId: string,
    @Arg('contactIds', () => [ID]) contactIds: string[],
  ): Promise<ContactLabelType> {
    return ctx.services.labels.removeContacts(ctx.scope(), labelId, contactIds);
  }
}

/** A contact's labels and its star, from the label memberships the mirror keeps. */
@Resolver(() => ContactType)
export class ContactLabelsFieldResolver {
  @FieldResolver(() => [ContactLabelType], { description: "The labels the contact is in (memberCount: the label's)." })
  labels(@Root() c: ContactType, @Ctx() ctx: GatewayContext): ContactLabelType[] | Promise<ContactLabelType[]> {
    const counts = c.labelCounts;
    const types = (labels: LabelView[]) =>
      labels.map((l) => toLabelType(l, counts ? (counts.get(l.id) ?? 0) : () => ctx.loaders().labelCounts.load(l.id)));
    // Read with the page when the list saw labels asked for: answered without a promise per contact.
    return c.labelList ? types(c.labelList) : ctx.loaders().contacts.labels.load(c.id).then(types);
  }

  @FieldResolver(() => Boolean, { description: 'In Google\'s "Starred" group: a favourite (read-only here).' })
  starred(@Root() c: ContactType, @Ctx() ctx: GatewayContext): boolean | Promise<boolean> {
    const starred = (labels: LabelView[]) => labels.some((l) => l.resourceName === STARRED);
    return c.labelList ? starred(c.labelList) : ctx.loaders().contacts.labels.load(c.id).then(starred);
  }
}
