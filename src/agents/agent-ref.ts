/**
 * The agent a piece of work acts for, from the request's TenantScope through sync and the outbox: its tenant key
 * (brokerage and agent ids, which every query of its rows filters by) and its mailbox, the `sub` every Google call
 * is made as.
 */
export interface AgentRef {
  brokerageId: string;
  agentId: string;
  email: string;
}

/** An agent's tenant key alone: enough for its rows, not for Google. */
export type AgentKey = Pick<AgentRef, 'brokerageId' | 'agentId'>;
