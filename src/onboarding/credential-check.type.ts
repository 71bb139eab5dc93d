import { Field, ObjectType } from 'type-graphql';

@ObjectType('CredentialCheck', {
  simpleResolvers: true,
  description: 'One verification step, e.g. token:mail, api:people, sync:contacts.',
})
export class CredentialCheckType {
  @Field()
  name: string;

  @Field()
  ok: boolean;

  @Field(() => String, {
    nullable: true,
    description:
      'Null when ok; else a diagnosis such as DELEGATION_MISSING, API_DISABLED, UNKNOWN_USER, KEY_INVALID, CLOCK_SKEW, NO_MAILBOX, NOT_RUN.',
  })
  code: string | null;

  @Field()
  message: string;

  @Field(() => String, {
    nullable: true,
    description: "What the brokerage's admin should do, naming the step of the integration guide.",
  })
  remedy: string | null;
}
