/**
 * The lock that keeps an agent's change feeds in commit order (contactChanges, eventChanges): a transaction that
 * records feed changes holds the agent's row from its first statement to its commit, so the positions it takes come
 * after every committed one and before every later one, on every replica (src/contacts/contact-changes.ts explains
 * why an auto-increment alone does not do it). SQLite runs one writing transaction at a time: nothing to lock there.
 */
import type { EntityManager } from 'typeorm';

export async function lockAgentFeeds(m: EntityManager, agent: { brokerageId: string; agentId: string }): Promise<void> {
  const type = m.connection.options.type;
  if (type !== 'mysql' && type !== 'mariadb') return;
  await m.query('SELECT `id` FROM `agent` WHERE `id` = ? AND `brokerageId` = ? FOR UPDATE', [
    agent.agentId,
    agent.brokerageId,
  ]);
}
