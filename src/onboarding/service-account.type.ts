import { Field, ObjectType, registerEnumType } from 'type-graphql';

export enum CredentialStatusEnum {
  PENDING = 'PENDING',
  VERIFIED = 'VERIFIED',
  CANNOT_BE_VERIFIED = 'CANNOT_BE_VERIFIED',
  RETIRED = 'RETIRED',
}
registerEnumType(CredentialStatusEnum, { name: 'CredentialStatus' });

@ObjectType('ServiceAccount', { description: 'The public face of the brokerage\'s Google service-account key. The private key is never exposed.' })
export class ServiceAccountType {
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
}
