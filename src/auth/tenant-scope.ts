/**
 * The only way services reach tenant data: every query made through a
 * TenantScope is filtered by the caller's brokerage (and, for agent-owned
 * rows, the caller's agent), merged into the `where` by this class, so a
 * service cannot forget it. Cross-tenant access is impossible by construction:
 * a foreign id simply finds nothing, which callers report as NOT_FOUND (never
 * FORBIDDEN, which would confirm that the id exists).
 */
import type { EntityManager, EntityTarget, FindOptionsOrder, FindOptionsWhere, ObjectLiteral } from 'typeorm';
import type { AgentRef } from '../agents/agent-ref';
import { Brokerage } from '../entities';
import type { Caller } from './caller';

export interface BrokerageOwned extends ObjectLiteral {
  brokerageId: string | null;
}
export interface AgentOwned extends BrokerageOwned {
  agentId: string;
}

export class TenantScope {
  constructor(
    readonly manager: EntityManager,
    readonly caller: Caller,
  ) {}

  get brokerageId(): string {
    return this.caller.brokerageId;
  }

  get agentId(): string {
    return this.caller.agentId;
  }

  /** The calling agent, as sync and the outbox take it. */
  get agent(): AgentRef {
    return { brokerageId: this.caller.brokerageId, agentId: this.caller.agentId, email: this.caller.email };
  }

  /** The same scope bound to another manager (e.g. inside a transaction). */
  within(manager: EntityManager): TenantScope {
    return new TenantScope(manager, this.caller);
  }

  brokerage(): Promise<Brokerage> {
    return this.manager.getRepository(Brokerage).findOneByOrFail({ id: this.caller.brokerageId });
  }

  /** Rows of the caller's brokerage matching `where`. */
  findInBrokerage<T extends BrokerageOwned>(entity: EntityTarget<T>, where: FindOptionsWhere<T> = {}, order?: FindOptionsOrder<T>): Promise<T[]> {
    return this.manager.getRepository(entity).find({ where: this.brokerageWhere(where), order });
  }

  findOneInBrokerage<T extends BrokerageOwned>(entity: EntityTarget<T>, where: FindOptionsWhere<T> = {}, order?: FindOptionsOrder<T>): Promise<T | null> {
    return this.manager.getRepository(entity).findOne({ where: this.brokerageWhere(where), order });
  }

  /** Rows of the caller's own agent matching `where`. */
  findForAgent<T extends AgentOwned>(entity: EntityTarget<T>, where: FindOptionsWhere<T> = {}, order?: FindOptionsOrder<T>): Promise<T[]> {
    return this.manager.getRepository(entity).find({ where: this.agentWhere(where), order });
  }

  findOneForAgent<T extends AgentOwned>(entity: EntityTarget<T>, where: FindOptionsWhere<T> = {}): Promise<T | null> {
    return this.manager.getRepository(entity).findOne({ where: this.agentWhere(where) });
  }

  private brokerageWhere<T extends BrokerageOwned>(where: FindOptionsWhere<T>): FindOptionsWhere<T> {
    return { ...where, brokerageId: this.caller.brokerageId } as FindOptionsWhere<T>;
  }

  private agentWhere<T extends AgentOwned>(where: FindOptionsWhere<T>): FindOptionsWhere<T> {
    return { ...where, brokerageId: this.caller.brokerageId, agentId: this.caller.agentId } as FindOptionsWhere<T>;
  }
}
