import type { Logger } from '../logger';

/** How often each process sweeps: replicas may overlap, and what two of them delete twice is simply gone. */
const SWEEP_EVERY_MS = 3600_000;

/**
 * A retention sweep run hourly in each process, one run at a time (a run asked for while one is under way shares
 * it). The first run is an hour after start: each agent's own sync prunes its rows meanwhile; the sweep is for the
 * agents that no longer sync.
 */
export class HourlySweep {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    /** Names the sweep in its log line, e.g. "contact change feed". */
    private readonly what: string,
    /** One whole sweep; resolves to how many rows went. */
    private readonly sweep: (now: Date) => Promise<number>,
    private readonly log?: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.run().catch((err) =>
        this.log?.warn({ err }, `${this.what}: the retention sweep failed; it runs again in an hour`),
      );
    }, SWEEP_EVERY_MS);
    this.timer.unref();
  }

  /** No more runs; waits for the one under way. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  run(now = new Date()): Promise<number> {
    this.running ??= this.sweep(now).finally(() => (this.running = null));
    return this.running;
  }
}
