import type { TenantScope } from '../auth/tenant-scope';
import { AgentRoleEnum, type AgentType, type BrokerageType } from './agent.type';

export class AgentService {
  /**
   * The caller as resolved for this request (auth/caller.ts made sure the agent row exists and carries this role): no
   * statement. The brokerage is read only when asked for (AgentResolver.brokerage).
   */
  async me(scope: TenantScope): Promise<AgentType> {
    const { agentId, email, role } = scope.caller;
    return { id: agentId, email, role: role === 'admin' ? AgentRoleEnum.ADMIN : AgentRoleEnum.AGENT };
  }

  async brokerage(scope: TenantScope): Promise<BrokerageType> {
    const b = await scope.brokerage();
    return { id: b.id, name: b.name, domain: b.domain };
  }
}
