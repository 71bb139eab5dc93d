/**
 * The explorer's router without a browser: its security and caching headers, the page's settings block (escaped so
 * no value can break out of it), assets served only when the build listed them, and a clear 503 when not built.
 * Runs against a fake build in a temporary folder (the real one is exercised by explorer.test.ts in Chromium).
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { get as httpGet } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import { EXPLORER_CSP, explorerRouter, jsonForHtml, type ExplorerOptions } from '../../src/explorer/explorer';

const dirs: string[] = [];
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fakeBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'engage-explorer-assets-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'assets/main-ABC123.js'), 'console.log("explorer")\n');
  writeFileSync(join(dir, 'assets/main-DEF456.css'), 'body{margin:0}\n');
  writeFileSync(join(dir, 'assets/codicon-XYZ.ttf'), Buffer.from([0, 1, 0, 0]));
  writeFileSync(join(dir, 'assets/unlisted.js'), 'secret()\n');
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({
      script: 'assets/main-ABC123.js',
      stylesheet: 'assets/main-DEF456.css',
      files: ['assets/codicon-XYZ.ttf', 'assets/main-ABC123.js', 'assets/main-DEF456.css'],
    }),
  );
  return dir;
}

async function serve(options: ExplorerOptions): Promise<string> {
  const app = express();
  app.use('/explorer', explorerRouter(options));
  app.use((_req, res) => {
    res.status(404).send('app 404');
  });
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((r) => server.once('listening', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const DEFAULT_QUERY = '{ me { email } }';

function settingsOf(html: string): { endpoint: string; defaultHeaders: string | null; defaultQuery: string } {
  const m = /<script type="application\/json" id="explorer-settings">([^<]*)<\/script>/.exec(html);
  if (!m) throw new Error(`no settings block in:\n${html}`);
  return JSON.parse(m[1]);
}

function expectSecurityHeaders(res: Response): void {
  expect(res.headers.get('content-security-policy')).toBe(EXPLORER_CSP);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
}

test('the CSP allows this origin only, no inline script, and no framing', () => {
  const directives = Object.fromEntries(
    EXPLORER_CSP.split(';')
      .map((d) => d.trim().split(/\s+/))
      .map(([name, ...values]) => [name, values]),
  );
  expect(directives).toMatchObject({
    'default-src': ["'self'"],
    'script-src': ["'self'"],
    'worker-src': ["'self'", 'blob:'],
    'style-src': ["'self'", "'unsafe-inline'"],
    'font-src': ["'self'", 'data:'],
    'img-src': ["'self'", 'data:'],
    'connect-src': ["'self'"],
    'frame-ancestors': ["'none'"],
  });
  expect(EXPLORER_CSP).not.toMatch(/unsafe-eval|https?:|\*/);
});

test('the page: same HTML at /explorer and /explorer/, absolute asset URLs, settings as escaped JSON, never cached', async () => {
  const base = await serve({
    endpoint: '/graphql',
    initialHeaders: { Authorization: 'Bearer abc.def.ghi' },
    defaultQuery: DEFAULT_QUERY,
    assetsDir: fakeBuild(),
  });
  const bare = await fetch(`${base}/explorer`);
  const slash = await fetch(`${base}/explorer/`);
  for (const res of [bare, slash]) {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
    expect(res.headers.get('cache-control')).toMatch(/\bno-cache\b/);
    expect(res.headers.get('cache-control')).toMatch(/\bno-store\b/);
    expectSecurityHeaders(res);
  }
  const html = await bare.text();
  expect(await slash.text()).toBe(html);
  expect(html).toContain('<script type="module" src="/explorer/assets/main-ABC123.js"></script>');
  expect(html).toContain('<link rel="stylesheet" href="/explorer/assets/main-DEF456.css">');
  // No inline script: the only <script> without src is the JSON data block.
  const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
  expect(scripts).toEqual([
    ' type="application/json" id="explorer-settings"',
    ' type="module" src="/explorer/assets/main-ABC123.js"',
  ]);
  expect(settingsOf(html)).toEqual({
    endpoint: '/graphql',
    defaultHeaders: JSON.stringify({ Authorization: 'Bearer abc.def.ghi' }, null, 2),
    defaultQuery: DEFAULT_QUERY,
  });
  // Nothing from another host.
  expect(html).not.toMatch(/https?:\/\//);
});

test('a value with </script> (or <!--, or U+2028) cannot break out of the settings block', async () => {
  const evil = 'x</script><script>alert(1)</script><!--\u2028&amp;';
  const base = await serve({
    endpoint: '/graphql',
    initialHeaders: { 'X-Note': evil },
    defaultQuery: `# ${evil}\n{ me { email } }`,
    assetsDir: fakeBuild(),
  });
  const html = await (await fetch(`${base}/explorer`)).text();
  const block = /id="explorer-settings">([\s\S]*?)<\/script>/.exec(html)![1];
  expect(block).not.toMatch(/[<>&\u2028\u2029]/);
  expect(block).toContain('\\u003c/script\\u003e');
  expect(html.match(/<\/script>/g)).toHaveLength(2); // the data block's and the module's, nothing more
  const settings = settingsOf(html);
  expect(JSON.parse(settings.defaultHeaders!)).toEqual({ 'X-Note': evil });
  expect(settings.defaultQuery).toBe(`# ${evil}\n{ me { email } }`);
  expect(jsonForHtml({ a: '</script>' })).toBe('{"a":"\\u003c/script\\u003e"}');
});

test('no initial headers (outside the sandbox): the page starts with none', async () => {
  const base = await serve({ endpoint: '/graphql', defaultQuery: DEFAULT_QUERY, assetsDir: fakeBuild() });
  const html = await (await fetch(`${base}/explorer`)).text();
  expect(settingsOf(html).defaultHeaders).toBeNull();
  expect(html).not.toMatch(/Bearer/);
});

test('assets: hashed and listed ones are immutable, with the security headers; anything else is 404', async () => {
  const base = await serve({ endpoint: '/graphql', defaultQuery: DEFAULT_QUERY, assetsDir: fakeBuild() });
  const js = await fetch(`${base}/explorer/assets/main-ABC123.js`);
  expect(js.status).toBe(200);
  expect(js.headers.get('content-type')).toMatch(/^(text|application)\/javascript/);
  expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  expectSecurityHeaders(js);
  expect(await js.text()).toBe('console.log("explorer")\n');
  const css = await fetch(`${base}/explorer/assets/main-DEF456.css`);
  expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  expect(css.headers.get('cache-control')).toContain('immutable');
  const font = await fetch(`${base}/explorer/assets/codicon-XYZ.ttf`);
  expect(font.status).toBe(200);
  expect(font.headers.get('content-type')).toBe('font/ttf');
  await font.arrayBuffer();

  for (const path of [
    '/explorer/assets/unlisted.js',
    '/explorer/assets/nope-123.js',
    '/explorer/assets/',
    '/explorer/assets/..%2fmanifest.json',
    '/explorer/manifest.json',
  ]) {
    const res = await fetch(`${base}${path}`);
    expect([path, res.status]).toEqual([path, 404]);
    expect(res.headers.get('cache-control') ?? 'no-store').not.toContain('immutable');
    await res.text();
  }
});

test('assets with a gzip copy: gzip to a browser that takes it (typed as the original, Vary: Accept-Encoding), the original otherwise', async () => {
  const dir = fakeBuild();
  const script = 'console.log("explorer")\n'.repeat(200);
  writeFileSync(join(dir, 'assets/main-ABC123.js'), script);
  writeFileSync(join(dir, 'assets/main-ABC123.js.gz'), gzipSync(script));
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({
      script: 'assets/main-ABC123.js',
      stylesheet: 'assets/main-DEF456.css',
      files: ['assets/codicon-XYZ.ttf', 'assets/main-ABC123.js', 'assets/main-ABC123.js.gz', 'assets/main-DEF456.css'],
    }),
  );
  const base = await serve({ endpoint: '/graphql', defaultQuery: DEFAULT_QUERY, assetsDir: dir });
  const raw = (encoding: string) =>
    new Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolveGet, reject) => {
      httpGet(`${base}/explorer/assets/main-ABC123.js`, { headers: { 'accept-encoding': encoding } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolveGet({ headers: res.headers, body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
  const zipped = await raw('gzip, deflate, br');
  expect(zipped.headers['content-encoding']).toBe('gzip');
  expect(zipped.headers['content-type']).toMatch(/^(text|application)\/javascript/);
  expect(zipped.headers.vary).toMatch(/Accept-Encoding/i);
  expect(zipped.headers['cache-control']).toMatch(/immutable/);
  expect(gunzipSync(zipped.body).toString()).toBe(script);
  expect(zipped.body.length).toBeLessThan(script.length / 10);
  const plain = await raw('identity');
  expect(plain.headers['content-encoding']).toBeUndefined();
  expect(plain.body.toString()).toBe(script);
  // An asset without a copy is sent as it is.
  expect(
    (await fetch(`${base}/explorer/assets/main-DEF456.css`, { headers: { 'accept-encoding': 'gzip' } })).headers.get(
      'content-encoding',
    ),
  ).toBeNull();
});

test('not built: 503 saying to run `npm run build`, for the page and its assets; served as soon as it is built', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'engage-explorer-unbuilt-'));
  dirs.push(dir);
  const base = await serve({ endpoint: '/graphql', defaultQuery: DEFAULT_QUERY, assetsDir: dir });
  for (const path of ['/explorer', '/explorer/', '/explorer/assets/main-ABC123.js']) {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expectSecurityHeaders(res);
    expect(await res.text()).toMatch(/not built.*Run `npm run build`/s);
  }
  // `npm run build` next to a running server: no restart needed.
  cpSync(fakeBuild(), dir, { recursive: true });
  expect((await fetch(`${base}/explorer`)).status).toBe(200);
  expect((await fetch(`${base}/explorer/assets/main-ABC123.js`)).status).toBe(200);
});
