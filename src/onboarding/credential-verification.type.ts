import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { CredentialCheckType } from './credential-check.type';
import { ServiceAccountType } from './service-account.type';

export enum VerificationStatusEnum {
  VERIFIED = 'VERIFIED',
  CANNOT_BE_VERIFIED = 'CANNOT_BE_VERIFIED',
}
registerEnumType(VerificationStatusEnum, {
  name: 'VerificationStatus',
  description: 'The outcomes of the integration guide\'s "Verification of Credentials".',
});

@ObjectType('CredentialVerification', { simpleResolvers: true })
export class CredentialVerificationType {
  @Field(() => VerificationStatusEnum)
  status: VerificationStatusEnum;

  @Field(() => [CredentialCheckType])
  checks: CredentialCheckType[];

  @Field(() => ServiceAccountType)
  serviceAccount: ServiceAccountType;
}
