import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { CredentialCheckType } from './credential-check.type';

export enum CredentialStatusEnum {
  VERIFIED = 'VERIFIED',
  CANNOT_BE_VERIFIED = 'CANNOT_BE_VERIFIED',
  RETIRED = 'RETIRED',
}
registerEnumType(CredentialStatusEnum, { name: 'CredentialStatus' });

@ObjectType('ServiceAccount', {
  simpleResolvers: true,
  description: "The public face of the brokerage's Google service-account key. The private key is never exposed.",
})
export class ServiceAccountType {
  @Field(() => ID, { description: "The key's id (privateKeyId): a key for client caches." })
  id: string;

  @Field()
  clientEmail: string;

  @Field({ description: 'The client id an admin authorizes for domain-wide delegation.' })
  clientId: string;

  @Field()
  privateKeyId: string;

  @Field(() => CredentialStatusEnum)
  status: CredentialStatusEnum;

  @Field(() => Date, { nullable: true })
  verifiedAt: Date | null;

  @Field(() => String, { nullable: true, description: 'The mailbox the verification acts as.' })
  testEmail: string | null;

  @Field(() => [String], { description: 'Scopes the last verification obtained tokens for.' })
  grantedScopes: string[];

  @Field(() => [CredentialCheckType], { nullable: true, description: 'The checks of the last verification.' })
  lastChecks?: CredentialCheckType[] | null;
}
