import { LRUCache } from 'lru-cache';
import type { DataSource } from 'typeorm';
import type { Config } from '../config';
import { Agent } from '../entities';
import type { CredentialStore } from './credential-store';
import { noKeyProblems } from './feature-health';
import { GoogleSession, type GoogleSessionOptions, type LoadedCredential } from './google-session';
import type { TokenBroker } from './token-broker';

/** Builds GoogleSessions: per request (the caller's mailbox) and per outbox delivery (the lane's agent). */
export class GoogleSessions {
  constructor(
    private readonly ds: DataSource,
    private readonly broker: TokenBroker,
    private readonly credentials: CredentialStore,
    private readonly google: Config['google'] & Pick<GoogleSessionOptions, 'fetch' | 'userAgent'>,
  ) {}

  /** Agents' emails by brokerage and agent id: bounded like the caller cache (src/auth/caller.ts). */
  private readonly emails = new LRUCache<string, string>({ max: 10_000 });

  /**
   * Google as an agent's own mailbox, by agent id (outbox deliveries know the id; the email is remembered, it never
   * changes, under the brokerage it was found in).
   */
  async forAgentId(brokerageId: string, agentId: string): Promise<GoogleSession> {
    const key = `${brokerageId} ${agentId}`;
    let email = this.emails.get(key);
    if (!email) {
      email = (await this.ds.getRepository(Agent).findOneByOrFail({ id: agentId, brokerageId })).email;
      this.emails.set(key, email);
    }
    return this.forAgent(brokerageId, email);
  }

  /**
   * Google as `agentEmail`'s own mailbox, with the brokerage's key in use (none: every call answers
   * GOOGLE_NOT_CONFIGURED).
   */
  async forAgent(brokerageId: string, agentEmail: string): Promise<GoogleSession> {
    const cred = await this.credentials.current(this.ds.manager, brokerageId);
    // No key: every call refuses with the brokerage's true state (never submitted, or removed).
    const noKey = cred ? null : await noKeyProblems(this.ds.manager, brokerageId);
    return new GoogleSession(this.broker, this.google, cred, agentEmail, noKey);
  }

  /**
   * Google as `agentEmail` with a given key (not necessarily the one in use: e.g. undoing what a key being removed set
   * up).
   */
  withCredential(credential: LoadedCredential, agentEmail: string): GoogleSession {
    return new GoogleSession(this.broker, this.google, credential, agentEmail);
  }

  /** After Google refused our token (401): forget the cached tokens of the brokerage's key. */
  async forgetTokens(brokerageId: string): Promise<void> {
    const row = await this.credentials.inUseRow(this.ds.manager, brokerageId);
    if (row) this.broker.forgetCredential(row.id);
  }
}
