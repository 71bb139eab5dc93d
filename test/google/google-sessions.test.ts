/**
 * GoogleSessions.forAgentId (outbox deliveries know an agent by id): the agent's email is remembered, per brokerage
 * and agent, in a bounded LRU. A remembered agent must not answer for another brokerage: the id is looked up with its
 * brokerage, and so is the memory of it.
 */
import type { Config } from '../../src/config';
import { Agent } from '../../src/entities';
import type { CredentialStore } from '../../src/google/credential-store';
import { GoogleSessions } from '../../src/google/google-sessions';
import type { TokenBroker } from '../../src/google/token-broker';
import { describeEachDb } from '../support/db';
import { seedBrokerage } from '../support/gateway';

describeEachDb('Google sessions by agent id', (db) => {
  test("an agent remembered under its brokerage does not answer under another's", async () => {
    await db().clear();
    const alpha = await seedBrokerage(db().ds, 'alpha.test', [{ email: 'pat@alpha.test' }]);
    const beta = await seedBrokerage(db().ds, 'beta.test', [{ email: 'lee@beta.test' }]);
    const pat = await db().ds.getRepository(Agent).findOneByOrFail({ email: 'pat@alpha.test' });
    // No key stored for either brokerage: the sessions answer GOOGLE_NOT_CONFIGURED, which is not what is tested.
    const noCredentials = { current: async () => null } as unknown as CredentialStore;
    const sessions = new GoogleSessions(db().ds, {} as TokenBroker, noCredentials, {} as Config['google']);

    expect((await sessions.forAgentId(alpha.id, pat.id)).subject).toBe('pat@alpha.test');
    await expect(sessions.forAgentId(beta.id, pat.id)).rejects.toThrow(/Could not find any entity/);
    expect((await sessions.forAgentId(alpha.id, pat.id)).subject).toBe('pat@alpha.test');
  });
});
