/**
 * The only way services reach tenant data: every query made through a
 * TenantScope is filtered by the caller's brokerage (and, for agent-owned
 * rows, the caller's agent), merged into the `where` (or into a query
 * builder's first condition) by this class, so a service cannot forget it.
 * Cross-tenant access is impossible by construction: a foreign id simply finds
 * nothing, which callers report as NOT_FOUND (never FORBIDDEN, which would
 * confirm that the id exists).
 *
 * The entity manager itself is not handed out: writes run in `transaction`,
 * whose callback gets the transaction's manager (for the outbox and the change
 * feed, which take the agent explicitly) and the scope bound to it.
 */
import type {
  EntityManager,
  EntityTarget,
  FindOptionsOrder,
  FindOptionsWhere,
  ObjectLiteral,
  SelectQueryBuilder,
} from 'typeorm';
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
    private readonly em: EntityManager,
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

  /** Runs `work` in one transaction, with its manager and this scope bound to it. */
  transaction<T>(work: (m: EntityManager, tx: TenantScope) => Promise<T>): Promise<T> {
    return this.em.transaction((m) => work(m, this.within(m)));
  }

  /**
   * A query builder over the caller's own rows of `entity` (as `alias`): its first condition is the agent and the
   * brokerage (parameters `agentId` and `brokerageId`, which subqueries may reuse). Add conditions with andWhere;
   * `where` would replace the filter.
   */
  agentQuery<T extends AgentOwned>(entity: EntityTarget<T>, alias: string): SelectQueryBuilder<T> {
    return this.em
      .getRepository(entity)
      .createQueryBuilder(alias)
      .where(`${alias}.agentId = :agentId AND ${alias}.brokerageId = :brokerageId`, {
        agentId: this.caller.agentId,
        brokerageId: this.caller.brokerageId,
      });
  }

  /** A query builder over the rows of `entity` in the caller's brokerage (parameter `brokerageId`), as agentQuery. */
  brokerageQuery<T extends BrokerageOwned>(entity: EntityTarget<T>, alias: string): SelectQueryBuilder<T> {
    return this.em
      .getRepository(entity)
      .createQueryBuilder(alias)
      .where(`${alias}.brokerageId = :brokerageId`, { brokerageId: this.caller.brokerageId });
  }

  /** Deletes the caller's own rows matching `where`; how many went. */
  async deleteForAgent<T extends AgentOwned>(entity: EntityTarget<T>, where: FindOptionsWhere<T>): Promise<number> {
    return (await this.em.getRepository(entity).delete(this.agentWhere(where))).affected ?? 0;
  }

  /** How many of the caller's own rows match `where`. */
  countForAgent<T extends AgentOwned>(entity: EntityTarget<T>, where: FindOptionsWhere<T> = {}): Promise<number> {
    return this.em.getRepository(entity).countBy(this.agentWhere(where));
  }

  /**
   * Runs `read` with this scope's manager, for reads that take the agent explicitly (the change feed, outbox counts).
   */
  read<T>(read: (m: EntityManager) => Promise<T>): Promise<T> {
    return read(this.em);
  }

  brokerage(): Promise<Brokerage> {
    return this.em.getRepository(Brokerage).findOneByOrFail({ id: this.caller.brokerageId });
  }

  /** Rows of the caller's brokerage matching `where`. */
  findInBrokerage<T extends BrokerageOwned>(
    entity: EntityTarget<T>,
    where: FindOptionsWhere<T> = {},
    order?: FindOptionsOrder<T>,
  ): Promise<T[]> {
    return this.em.getRepository(entity).find({ where: this.brokerageWhere(where), order });
  }

  findOneInBrokerage<T extends BrokerageOwned>(
    entity: EntityTarget<T>,
    where: FindOptionsWhere<T> = {},
    order?: FindOptionsOrder<T>,
  ): Promise<T | null> {
    return this.em.getRepository(entity).findOne({ where: this.brokerageWhere(where), order });
  }

  /** Rows of the caller's own agent matching `where`. */
  findForAgent<T extends AgentOwned>(
    entity: EntityTarget<T>,
    where: FindOptionsWhere<T> = {},
    order?: FindOptionsOrder<T>,
  ): Promise<T[]> {
    return this.em.getRepository(entity).find({ where: this.agentWhere(where), order });
  }

  findOneForAgent<T extends AgentOwned>(entity: EntityTarget<T>, where: FindOptionsWhere<T> = {}): Promise<T | null> {
    return this.em.getRepository(entity).findOne({ where: this.agentWhere(where) });
  }

  /** The caller's own rows matching any of `where` (an OR), in `order`, at most `take`. */
  findManyForAgent<T extends AgentOwned>(
    entity: EntityTarget<T>,
    where: FindOptionsWhere<T> | FindOptionsWhere<T>[],
    options: { order?: FindOptionsOrder<T>; take?: number } = {},
  ): Promise<T[]> {
    const list = Array.isArray(where) ? where.map((w) => this.agentWhere(w)) : this.agentWhere(where);
    return this.em.getRepository(entity).find({ where: list, ...options });
  }

  private brokerageWhere<T extends BrokerageOwned>(where: FindOptionsWhere<T>): FindOptionsWhere<T> {
    return { ...where, brokerageId: this.caller.brokerageId } as FindOptionsWhere<T>;
  }

  private agentWhere<T extends AgentOwned>(where: FindOptionsWhere<T>): FindOptionsWhere<T> {
    return { ...where, brokerageId: this.caller.brokerageId, agentId: this.caller.agentId } as FindOptionsWhere<T>;
  }
}
