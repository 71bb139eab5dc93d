/**
 * Prometheus metrics (`GET /metrics`, text format, prom-client), one registry per gateway. Labels are bounded: API
 * names, method templates (ids replaced, see google-method.ts), status codes, error codes, outbox topics; never an
 * email, an id or a client's own operation name. The outbox gauges are read from the database at scrape time, one
 * indexed query per scrape.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { withinDatabaseDeadline } from '../db/unavailable';
import { OutboxRow } from '../entities';

/** The outbox topics, each reported even when nothing waits in it. */
const OUTBOX_KINDS = ['contacts', 'calendar', 'mail'] as const;

export type SyncApi = 'people' | 'calendar';

/** The most a scrape waits for the outbox gauges' query. */
const SCRAPE_QUERY_TIMEOUT_MS = 2000;

export class Metrics {
  readonly registry = new Registry();

  readonly graphqlRequests = new Counter({
    name: 'engage_graphql_requests_total',
    help: 'GraphQL requests by operation type, root field (operation_name) and outcome (ok, or the first error code).',
    labelNames: ['operation_type', 'operation_name', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly graphqlDuration = new Histogram({
    name: 'engage_graphql_request_duration_seconds',
    help: 'GraphQL request duration, from the parsed request to the response.',
    labelNames: ['operation_type', 'operation_name'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly googleRequests = new Counter({
    name: 'engage_google_api_requests_total',
    help: 'Google API calls by API, method template and HTTP status (0: no answer).',
    labelNames: ['api', 'method', 'status_code'] as const,
    registers: [this.registry],
  });

  readonly googleDuration = new Histogram({
    name: 'engage_google_api_request_duration_seconds',
    help: 'Google API call duration.',
    labelNames: ['api', 'method'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly tokenRequests = new Counter({
    name: 'engage_google_token_requests_total',
    help: 'Access-token requests to Google by result (ok, refused, unreachable).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly outboxDeliveries = new Counter({
    name: 'engage_outbox_deliveries_total',
    help: 'Outbox rows settled by a delivery attempt, by topic (kind) and result (done, retry, failed).',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });

  readonly outboxFailed = new Counter({
    name: 'engage_outbox_failed_total',
    help: 'Outbox rows that failed for good (Google refused the change), by topic.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly fullResyncs = new Counter({
    name: 'engage_sync_full_resyncs_total',
    help: 'Full resyncs Google forced (an expired or invalid sync token), by API.',
    labelNames: ['api'] as const,
    registers: [this.registry],
  });

  readonly lastSyncSuccess = new Gauge({
    name: 'engage_sync_last_success_timestamp_seconds',
    help: 'When a sync of any agent last succeeded in this process, by API (unix seconds).',
    labelNames: ['api'] as const,
    registers: [this.registry],
  });

  constructor(ds: DataSource) {
    collectDefaultMetrics({ register: this.registry });
    // One query (the due index's leading status column) at scrape time fills both gauges: the registry collects
    // metrics concurrently, so both share the one query under way.
    let snapshot: Promise<{ topic: string; n: number; oldestAgeSeconds: number | null }[]> | null = null;
    // A database that is away or slow must not fail the scrape (prom-client collects every metric in one
    // Promise.all): the gauges are then left out, and the rest, process metrics included, still reported.
    const read = () => {
      snapshot ??= (async () => {
        try {
          return await withinDatabaseDeadline(query(), SCRAPE_QUERY_TIMEOUT_MS);
        } catch {
          return [];
        } finally {
          setImmediate(() => (snapshot = null)); // the next scrape reads afresh
        }
      })();
      return snapshot;
    };
    const query = async () => {
      const rows: { topic: string; n: number | string; oldest: Date | string | null }[] = await ds
        .getRepository(OutboxRow)
        .createQueryBuilder('o')
        .select('o.topic', 'topic')
        .addSelect('COUNT(*)', 'n')
        .addSelect('MIN(o.createdAt)', 'oldest')
        .where('o.status = :s', { s: 'PENDING' })
        .groupBy('o.topic')
        .getRawMany();
      const now = Date.now();
      return rows.map((r) => {
        const at = asTime(r.oldest);
        return {
          topic: r.topic,
          n: Number(r.n),
          oldestAgeSeconds: at === null ? null : Math.max(0, (now - at) / 1000),
        };
      });
    };
    new Gauge({
      name: 'engage_outbox_pending',
      help: 'Outbox rows waiting for Google, by topic (read at scrape time).',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await read();
        this.reset();
        // nothing waiting is 0; absent means the database did not answer
        for (const kind of OUTBOX_KINDS) this.set({ kind }, 0);
        for (const r of rows) this.set({ kind: r.topic }, r.n);
      },
    });
    new Gauge({
      name: 'engage_outbox_oldest_pending_age_seconds',
      help: 'Age of the oldest outbox row waiting for Google, by topic (read at scrape time).',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await read();
        this.reset();
        for (const kind of OUTBOX_KINDS) this.set({ kind }, 0);
        for (const r of rows) if (r.oldestAgeSeconds !== null) this.set({ kind: r.topic }, r.oldestAgeSeconds);
      },
    });
  }

  syncSucceeded(api: SyncApi): void {
    this.lastSyncSuccess.set({ api }, Date.now() / 1000);
  }
}

/** A raw MIN(datetime) as the drivers return it: a Date (mysql2) or "YYYY-MM-DD HH:MM:SS.sss" in UTC (SQLite). */
function asTime(v: Date | string | null): number | null {
  if (v === null) return null;
  if (v instanceof Date) return v.getTime();
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v.replace(' ', 'T')}Z`);
  return Number.isNaN(ms) ? null : ms;
}
