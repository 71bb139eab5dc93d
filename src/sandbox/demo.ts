/**
 * The sandbox's demo tenant: brokerage "Demo Realty" on `demo.test`, one
 * agent and one admin. Idempotent: safe at every start.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Agent, Brokerage } from '../entities';
import type { AgentRole } from '../entities/agent.entity';

export const DEMO_DOMAIN = 'demo.test';
export const DEMO_AGENT = 'agent@demo.test';
export const DEMO_ADMIN = 'admin@demo.test';

export async function ensureDemoTenant(ds: DataSource, now = new Date()): Promise<Brokerage> {
  return ds.transaction(async (m) => {
    let brokerage = await m.getRepository(Brokerage).findOneBy({ domain: DEMO_DOMAIN });
    if (!brokerage) {
      brokerage = { id: randomUUID(), name: 'Demo Realty', domain: DEMO_DOMAIN, createdAt: now };
      await m.getRepository(Brokerage).insert(brokerage);
    }
    const people: [string, AgentRole][] = [
      [DEMO_AGENT, 'agent'],
      [DEMO_ADMIN, 'admin'],
    ];
    for (const [email, role] of people) {
      if (!(await m.getRepository(Agent).existsBy({ email }))) {
        await m
          .getRepository(Agent)
          .createQueryBuilder()
          .insert()
          .values({
            id: randomUUID(),
            brokerageId: brokerage.id,
            email,
            role,
            createdAt: now,
            lastSeenAt: null,
            contactChangeSeq: 0,
          })
          .updateEntity(false)
          .execute();
      }
    }
    return brokerage;
  });
}
