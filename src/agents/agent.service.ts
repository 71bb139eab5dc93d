import type { TenantScope } from '../auth/tenant-scope';
import { Agent } from '../entities';
import { notFound } from '../errors';
import { AgentRoleEnum, type AgentType } from './agent.type';

export class AgentService {
  async me(scope: TenantScope): Promise<AgentType> {
    const [agent, brokerage] = await Promise.all([
      scope.findOneInBrokerage(Agent, { id: scope.agentId }),
      scope.brokerage(),
    ]);
    if (!agent) throw notFound('Agent', scope.agentId);
    return {
      id: agent.id,
      email: agent.email,
      role: agent.role === 'admin' ? AgentRoleEnum.ADMIN : AgentRoleEnum.AGENT,
      brokerage: { id: brokerage.id, name: brokerage.name, domain: brokerage.domain },
    };
  }
}
