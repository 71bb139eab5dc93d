import { Authorized, Ctx, FieldResolver, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../context';
import { AgentType, BrokerageType } from './agent.type';

@Resolver(() => AgentType)
export class AgentResolver {
  @Authorized()
  @Query(() => AgentType, { description: 'The calling agent and their brokerage.' })
  me(@Ctx() ctx: GatewayContext): Promise<AgentType> {
    return ctx.services.agents.me(ctx.scope());
  }

  // Only the caller's own agent is ever an AgentType: its brokerage is the caller's.
  @FieldResolver(() => BrokerageType)
  brokerage(@Ctx() ctx: GatewayContext): Promise<BrokerageType> {
    return ctx.services.agents.brokerage(ctx.scope());
  }
}
