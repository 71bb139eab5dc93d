import { Arg, Authorized, Ctx, Mutation, Resolver } from 'type-graphql';
import { ADMIN_ROLE } from '../auth/caller';
import type { GatewayContext } from '../context';
import { badInput } from '../errors';
import { CredentialVerificationType, VerificationStatusEnum } from './credential-verification.type';
import type { VerificationResult } from './onboarding.service';
import { CredentialStatusEnum } from './service-account.type';

/** A service-account key file is about 2.3 KB; anything far larger is not one. */
const MAX_KEY_JSON_BYTES = 64 * 1024;

function toType(r: VerificationResult): CredentialVerificationType {
  return {
    status: VerificationStatusEnum[r.status],
    checks: r.checks,
    serviceAccount: {
      ...r.serviceAccount,
      id: r.serviceAccount.privateKeyId,
      status: CredentialStatusEnum[r.serviceAccount.status],
      lastChecks: r.checks,
    },
  };
}

@Resolver(() => CredentialVerificationType)
export class OnboardingResolver {
  @Authorized(ADMIN_ROLE)
  @Mutation(() => CredentialVerificationType, {
    description:
      'Admins only: verify a service-account key (JSON) as the test user and store it encrypted if it verifies. A key that does not verify never replaces the key in use.',
  })
  async submitServiceAccountKey(
    @Arg('keyJson') keyJson: string,
    @Arg('testEmail', { description: 'A regular mailbox of your domain to verify with.' }) testEmail: string,
    @Ctx() ctx: GatewayContext,
  ): Promise<CredentialVerificationType> {
    if (Buffer.byteLength(keyJson) > MAX_KEY_JSON_BYTES)
      throw badInput(
        `keyJson is larger than ${MAX_KEY_JSON_BYTES} bytes: paste the content of the service-account .json key file`,
        { field: 'keyJson' },
      );
    const scope = ctx.scope();
    return toType(
      await ctx.services.onboarding.submit(
        { brokerageId: scope.brokerageId, actor: scope.caller.email },
        keyJson,
        testEmail,
      ),
    );
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => CredentialVerificationType, { description: 'Admins only: re-run the checks on the stored key.' })
  async verifyServiceAccount(@Ctx() ctx: GatewayContext): Promise<CredentialVerificationType> {
    const scope = ctx.scope();
    return toType(
      await ctx.services.onboarding.reverify({ brokerageId: scope.brokerageId, actor: scope.caller.email }),
    );
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => Boolean, {
    description:
      "Admins only: remove the brokerage's key (offboarding, or a leaked key). Calendar push channels are stopped first, then the stored key is erased; Google calls answer GOOGLE_NOT_CONFIGURED until a new key is submitted. False when there was no key.",
  })
  async removeServiceAccountKey(@Ctx() ctx: GatewayContext): Promise<boolean> {
    const scope = ctx.scope();
    return ctx.services.onboarding.remove({ brokerageId: scope.brokerageId, actor: scope.caller.email });
  }
}
