import { Authorized, Ctx, Query, Resolver } from 'type-graphql';
import { ADMIN_ROLE } from '../auth/caller';
import type { GatewayContext } from '../context';
import { ServiceAccountType } from './service-account.type';

@Resolver(() => ServiceAccountType)
export class ServiceAccountResolver {
  @Authorized(ADMIN_ROLE)
  @Query(() => ServiceAccountType, {
    nullable: true,
    description: "Admins only: the brokerage's service account, null when none was submitted.",
  })
  serviceAccount(@Ctx() ctx: GatewayContext): Promise<ServiceAccountType | null> {
    return ctx.services.serviceAccounts.current(ctx.scope());
  }
}
