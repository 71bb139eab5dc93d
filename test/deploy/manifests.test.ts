/**
 * Issue 14: the container image and the Kubernetes manifests cannot be built or applied here (no registry, no
 * cluster), so what can be checked is: the probes hit paths the gateway serves on the port it listens on, every
 * variable the manifests set is one the gateway reads, the production settings they give load without a problem, the
 * grace period outlasts the preStop sleep plus the drain, and the image runs the compiled gateway as a non-root user.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config';
import { MIGRATION_LOCK_SECONDS } from '../../src/db/data-source';
import { createTestDb } from '../support/db';
import { startTestGateway } from '../support/gateway';

const ROOT = resolve(__dirname, '../..');
const DIR = join(ROOT, 'deploy/kubernetes');

interface Manifest {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: any;
}

const manifests: Manifest[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(`${f}: ${d.errors[0].message}`);
      return d.toJS() as Manifest;
    }),
  );
const one = (kind: string) => {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found).toHaveLength(1);
  return found[0];
};
const configMap = () => one('ConfigMap').data!;
const secret = () => one('Secret').stringData!;
const podSpec = () => one('Deployment').spec.template.spec;
const gatewayContainer = () => podSpec().containers[0];

/** Every environment variable the gateway reads, as named in src/ (config.ts and its readers). */
function variablesRead(): Set<string> {
  const text = ['src/config.ts', 'src/db/data-source.ts'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');
  return new Set([...text.matchAll(/'([A-Z][A-Z0-9_]{2,})'/g)].map((m) => m[1]));
}

test('the manifests are a Deployment of 3, a Service, a PodDisruptionBudget, a migrations Job, a ConfigMap and a Secret template', () => {
  expect(manifests.map((m) => m.kind).sort()).toEqual([
    'ConfigMap',
    'Deployment',
    'Job',
    'PodDisruptionBudget',
    'Secret',
    'Service',
  ]);
  expect(one('Deployment').spec.replicas).toBe(3);
  expect(one('PodDisruptionBudget').spec.minAvailable).toBeLessThan(3);
  expect(one('Job').spec.template.spec.containers[0].image).toBe(gatewayContainer().image);
});

test('every variable the manifests set is one the gateway reads, and with the secrets filled in they load as a production configuration', () => {
  const read = variablesRead();
  const set = [...Object.keys(configMap()), ...Object.keys(secret())];
  expect(set.filter((name) => !read.has(name))).toEqual([]);
  // The template's placeholders replaced by values of the right shape, as an operator's real Secret holds.
  const env = { ...configMap(), ...secret(), KEY_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}` };
  const config = loadConfig(env);
  expect(config).toMatchObject({
    nodeEnv: 'production',
    sandbox: false,
    port: 8080,
    metricsPort: 9464,
    database: { kind: 'mysql', tls: { caFile: null } },
    https: { trustProxy: '10.0.0.0/8', required: true },
  });
  expect(config.calendar.channelsOnShutdown).toBe('keep');
});

test('the probes hit paths the gateway serves on the port it listens on; liveness does not depend on the database', async () => {
  const c = gatewayContainer();
  const ports = Object.fromEntries(
    c.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]),
  );
  expect(ports).toEqual({ http: Number(configMap().PORT), metrics: Number(configMap().METRICS_PORT) });
  expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
  expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  const db = await createTestDb('sqlite');
  const gw = await startTestGateway(db.ds, { env: { METRICS_PORT: '0' } });
  try {
    for (const path of ['/readyz', '/healthz']) expect((await fetch(`${gw.url}${path}`)).status).toBe(200);
    expect((await fetch(`${gw.metricsUrl}/metrics`)).status).toBe(200);
    await db.ds.destroy(); // the database gone: not ready, still alive
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  } finally {
    await gw.close();
  }
});

test('the grace period outlasts the preStop sleep, a Google call under way and the drain; the startup probe outlasts a wait for the migration lock', () => {
  const sleep = gatewayContainer().lifecycle.preStop.exec.command;
  expect(sleep[0]).toBe('sleep');
  const config = loadConfig({
    ...configMap(),
    ...secret(),
    KEY_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  });
  expect(podSpec().terminationGracePeriodSeconds).toBeGreaterThan(
    Number(sleep[1]) + config.google.requestTimeoutMs / 1000 + config.http.drainMs / 1000,
  );
  const startup = gatewayContainer().startupProbe;
  expect(startup.httpGet).toEqual({ path: '/healthz', port: 'http' });
  expect(startup.periodSeconds * startup.failureThreshold).toBeGreaterThan(MIGRATION_LOCK_SECONDS);
});

test('the migrations Job runs the compiled migrate command, which takes the same lock as the replicas', () => {
  expect(one('Job').spec.template.spec.containers[0].command).toEqual(['node', 'dist/src/cli/migrate.js']);
  expect(existsSync(join(ROOT, 'src/cli/migrate.ts'))).toBe(true);
});

test('the image: built on the Debian Node 20 image, dev dependencies pruned, run as a non-root user under an init process', () => {
  const file = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
  const froms = [...file.matchAll(/^FROM (\S+)(?: AS (\w+))?/gm)].map((m) => [m[1], m[2]]);
  expect(froms).toEqual([
    ['node:20-bookworm', 'build'],
    ['node:20-bookworm-slim', 'runtime'],
  ]);
  expect(file).toMatch(/npm ci/);
  expect(file).toMatch(/npm prune --omit=dev/);
  const runtime = file.slice(file.indexOf('AS runtime'));
  expect(runtime).toMatch(/^USER node$/m);
  expect(runtime).toMatch(/^ENV MALLOC_ARENA_MAX=2$/m); // glibc's arenas (docs/performance.md)
  expect(runtime).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
  expect(runtime).toMatch(
    /^CMD \["node", "--max-old-space-size=256", "--max-semi-space-size=16", "dist\/src\/main\.js"\]$/m,
  );
  expect(runtime).not.toMatch(/COPY (?!--from=build)/); // nothing from the build context: no sources, no data
});
