/**
 * Who is calling: the verified token's email, matched to a registered
 * brokerage by its domain, and the agent row for it (created on first sight,
 * only for a registered domain). Roles come from the token: the CRM's identity
 * service is their authority; the agent row mirrors the latest one.
 */
import { randomUUID } from 'node:crypto';
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

export async function resolveCaller(ds: DataSource, claims: CallerClaims, now = new Date()): Promise<Caller> {
  const domain = claims.email.slice(claims.email.lastIndexOf('@') + 1);
  const brokerage = await ds.getRepository(Brokerage).findOne({ where: { domain }, select: { id: true } });
  if (!brokerage) throw unauthenticated(`no brokerage is registered for the domain "${domain}"`);
  const role: AgentRole = claims.roles.includes(ADMIN_ROLE) ? 'admin' : 'agent';
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
