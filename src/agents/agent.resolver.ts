import { Authorized, Ctx, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../context';
import { AgentType } from './agent.type';

@Resolver(() => AgentType)
export class AgentResolver {
  @Authorized()
  @Query(() => AgentType, { description: 'The calling agent and their brokerage.' })
  me(@Ctx() ctx: GatewayContext): Promise<AgentType> {
    return ctx.services.agents.me(ctx.scope());
  }
}
