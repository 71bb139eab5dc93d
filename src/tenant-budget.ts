/**
 * A bound shared by every brokerage, with a share per brokerage: what one may take of it at once. `take` answers at
 * once, never waits: a caller refused is told which bound is full and answers RATE_LIMITED, since a queue of waiters
 * would hold their work in memory. Used for large request bodies (http/request-body.ts, counted in slots) and mails
 * being built (mail/mime-builder.ts, counted in bytes).
 */
export class TenantBudget {
  private used = 0;
  private readonly byTenant = new Map<string, number>();

  constructor(
    readonly total: number,
    readonly perTenant: number,
  ) {}

  /** Reserves `weight` for `tenant`: a release function (a second call does nothing), or which bound is full. */
  take(tenant: string, weight = 1): { release: () => void } | { full: 'tenant' | 'total' } {
    const mine = this.byTenant.get(tenant) ?? 0;
    if (mine + weight > this.perTenant) return { full: 'tenant' };
    if (this.used + weight > this.total) return { full: 'total' };
    this.used += weight;
    this.byTenant.set(tenant, mine + weight);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.used -= weight;
        const left = (this.byTenant.get(tenant) ?? weight) - weight;
        if (left > 0) this.byTenant.set(tenant, left);
        else this.byTenant.delete(tenant);
      },
    };
  }

  /** What is taken now, of the total. */
  get inUse(): number {
    return this.used;
  }
}
