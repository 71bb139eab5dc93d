/**
 * Who is calling: the verified token's email, matched to a registered
 * brokerage by its domain, and the agent row for it (created on first sight,
 * only for a registered domain). Roles come from the token: the CRM's identity
 * service is their authority; the agent row mirrors the latest one.
 */
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { DataSource } from 'typeorm';
import { Agent, Brokerage } from '../entities';
import type { AgentRole } from '../entities/agent.entity';
import { unauthenticated } from '../errors';
import type { CallerClaims } from './caller-token';

export const ADMIN_ROLE = 'admin';

export interface Caller {
  agentId: string;
  brokerageId: string;
  email: string;
  role: AgentRole;
}

/** lastSeenAt is written at most this often per agent, not on every request. */
const LAST_SEEN_RESOLUTION_MS = 60_000;

/** Callers a process remembers at most (a few hundred bytes each). */
const MAX_KNOWN_CALLERS = 10_000;

/**
 * resolveCaller, remembered for LAST_SEEN_RESOLUTION_MS per (email, role): two statements (brokerage by domain, agent
 * by email) saved on every request but one a minute per agent. What it remembers cannot go stale in that time: a
 * domain's brokerage and an agent's id and brokerage never change once made (nothing deletes or moves them), and the
 * role, which the token decides, is part of the key, so a token with another role resolves afresh (and the row is
 * updated, and this process's entry for the other role dropped; another replica still holding that entry writes the
 * row back only when it expires, so with replicas the row's role may lag the latest token by a minute: nothing reads
 * it for a decision, the caller's role comes from the token). An expired entry is resolved again, which also writes
 * lastSeenAt as before: at most once a minute. Rows deleted by hand (an operator offboarding a tenant in SQL) stop
 * being served within that minute on every replica.
 */
export class CallerDirectory {
  private readonly known: LRUCache<string, Caller>;

  /**
   * `pulse`: resolves once the database answers (within its deadline), or rejects. A remembered caller runs no
   * statement of its own, so it waits for one, shared by the requests arriving meanwhile: a database gone or frozen is
   * then found here, under the deadline, as before the callers were remembered, not by a request's first statement
   * hanging until TCP gives up.
   */
  constructor(
    private readonly ds: DataSource,
    private readonly pulse: () => Promise<void> = async () => {},
    opts: { max?: number; ttlMs?: number } = {},
  ) {
    this.known = new LRUCache({ max: opts.max ?? MAX_KNOWN_CALLERS, ttl: opts.ttlMs ?? LAST_SEEN_RESOLUTION_MS });
  }

  async resolve(claims: CallerClaims): Promise<Caller> {
    const role = roleOf(claims);
    const key = `${role} ${claims.email}`;
    const hit = this.known.get(key);
    if (hit) {
      await this.pulse();
      return hit;
    }
    const caller = await resolveCaller(this.ds, claims);
    // The row now carries this role: a token with the other one must be resolved again, to write it back.
    this.known.delete(`${role === 'admin' ? 'agent' : 'admin'} ${claims.email}`);
    this.known.set(key, caller);
    return caller;
  }

  /** Forgets every caller: for agent or brokerage rows deleted behind the gateway's back (tests); nothing else does. */
  clear(): void {
    this.known.clear();
  }
}

function roleOf(claims: CallerClaims): AgentRole {
  return claims.roles.includes(ADMIN_ROLE) ? 'admin' : 'agent';
}

async function resolveCaller(ds: DataSource, claims: CallerClaims, now = new Date()): Promise<Caller> {
  const domain = claims.email.slice(claims.email.lastIndexOf('@') + 1);
  const brokerage = await ds.getRepository(Brokerage).findOne({ where: { domain }, select: { id: true } });
  if (!brokerage) throw unauthenticated(`no brokerage is registered for the domain "${domain}"`);
  const role = roleOf(claims);
  const agents = ds.getRepository(Agent);

  let agent = await agents.findOne({ where: { email: claims.email } });
  if (!agent) {
    try {
      // Not read back (updateEntity(false)): TypeORM would select the defaulted columns by id alone, not naming the
      // brokerage.
      await agents
        .createQueryBuilder()
        .insert()
        .values({
          id: randomUUID(),
          brokerageId: brokerage.id,
          email: claims.email,
          role,
          createdAt: now,
          lastSeenAt: now,
          contactChangeSeq: 0,
        })
        .updateEntity(false)
        .execute();
    } catch (err) {
      // Two first requests at once: the other one created it (unique email).
      if (!(await agents.exists({ where: { email: claims.email } }))) throw err;
    }
    agent = await agents.findOneOrFail({ where: { email: claims.email } });
  } else if (
    agent.role !== role ||
    !agent.lastSeenAt ||
    now.getTime() - agent.lastSeenAt.getTime() > LAST_SEEN_RESOLUTION_MS
  ) {
    await agents.update({ id: agent.id, brokerageId: agent.brokerageId }, { role, lastSeenAt: now });
  }
  if (agent.brokerageId !== brokerage.id) {
    // Cannot happen while a domain maps to one brokerage; refuse rather than act across tenants.
    throw unauthenticated(`agent ${claims.email} does not belong to the brokerage of "${domain}"`);
  }
  return { agentId: agent.id, brokerageId: brokerage.id, email: agent.email, role };
}
