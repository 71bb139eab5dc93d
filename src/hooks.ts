/**
 * Typed hooks between features that must not import each other: one feature announces what happened (onboarding: a
 * key was taken out of use) and the others subscribe in the composition root (the calendar stops its push channels
 * and drops the views it read with that key). The idea of Apollo Server's plugin hooks and graphile-worker's event
 * map, at this project's size: every hook is awaited, listeners run in the order they subscribed, and the caller gets
 * each listener's answer. A listener's error reaches the caller, which decides (onboarding logs a failed
 * credentialRetired and goes on; a failed credentialRemoved fails the removal's answer, the key being erased already).
 */
import type { LoadedCredential } from './google/google-session';

/** Every hook of the gateway: its payload, and what each listener answers. */
export interface GatewayHooks {
  /**
   * A brokerage's key was just taken out of use (removed, or replaced by a new one) and is still in memory: release
   * what Google holds for it (calendar push channels). Each listener answers how many things it released.
   */
  credentialRetired(e: { brokerageId: string; credential: LoadedCredential }): Promise<number>;
  /** A brokerage's key is gone and no other is in use: drop what was read from Google with it (cached views). */
  credentialRemoved(e: { brokerageId: string }): Promise<void>;
}

type Listener = (payload: never) => Promise<unknown>;

export class Hooks<H extends { [K in keyof H]: Listener }> {
  private readonly listeners = new Map<keyof H, unknown[]>();

  on<K extends keyof H>(name: K, listener: H[K]): void {
    const list = this.listeners.get(name) ?? [];
    list.push(listener);
    this.listeners.set(name, list);
  }

  /** Runs every listener of `name`, one after the other; their answers, in order. */
  async call<K extends keyof H>(name: K, payload: Parameters<H[K]>[0]): Promise<Awaited<ReturnType<H[K]>>[]> {
    const answers: Awaited<ReturnType<H[K]>>[] = [];
    for (const listener of (this.listeners.get(name) ?? []) as ((
      p: Parameters<H[K]>[0],
    ) => Promise<Awaited<ReturnType<H[K]>>>)[])
      answers.push(await listener(payload));
    return answers;
  }
}
