import { Field, ObjectType } from 'type-graphql';

@ObjectType('SyncError', {
  simpleResolvers: true,
  description:
    "Why a feature is not reaching Google now, what fixes it, and since when. Derived from the brokerage's key (never submitted, removed, failing its latest verification, a scope not authorized) and from the last sync; null when all is well.",
})
export class SyncErrorType {
  @Field({
    description:
      'GOOGLE_NOT_CONFIGURED (a setup step to fix), UPSTREAM_UNAVAILABLE or RATE_LIMITED (Google is failing; retried), INTERNAL_SERVER_ERROR (ours; retried).',
  })
  code: string;

  @Field()
  message: string;

  @Field(() => String, { nullable: true, description: 'What to do about it, and who.' })
  remedy: string | null;

  @Field(() => Date, { nullable: true })
  since: Date | null;
}
