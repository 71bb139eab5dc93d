import { Field, ID, Int, ObjectType } from 'type-graphql';
import type { Count } from '../graphql/connection';
import { SyncStateEnum } from './contact.type';

@ObjectType('ContactLabel', {
  simpleResolvers: true,
  description:
    'A label (a Google contact group) of the caller\'s, such as "Buyers 2026"; "My Contacts" and "Starred" are Google\'s own (system: true, read-only).',
})
export class ContactLabelType {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field({ description: "One of Google's system groups (My Contacts, Starred): read-only here." })
  system: boolean;

  /** The count, or how to count it when asked for (a contact's labels are counted only if memberCount is selected). */
  members: number | Count;

  @Field(() => Int, { description: "The caller's contacts in it, as contacts(label:) counts them." })
  memberCount(): number | Promise<number> {
    return typeof this.members === 'number' ? this.members : this.members();
  }

  @Field(() => String, {
    nullable: true,
    description: 'The People API contactGroups resource name; null until Google has the label.',
  })
  resourceName: string | null;

  @Field(() => SyncStateEnum, {
    description: "Whether Google has the label's name and existence (its members: the contacts' syncState).",
  })
  syncState: SyncStateEnum;

  @Field(() => String, { nullable: true, description: 'Why Google does not have the change yet, or refused it.' })
  syncError: string | null;
}
