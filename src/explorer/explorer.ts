/**
 * GET /explorer: GraphiQL for people (internal tools, the sandbox), served from assets built at build time by
 * src/explorer/build.mjs into dist/explorer/ (GraphiQL 5, React 19, Monaco and its workers, fonts): nothing is loaded
 * from any other host.
 *
 * - `/` (with or without the trailing slash) is the page: a small HTML document naming the hashed script and
 *   stylesheet, with the page's settings (endpoint, default headers and query) in a JSON block,
 *   `<script type="application/json">`, read by the bundle: the page runs no inline script.
 * - `/assets/<name>-<hash>.<ext>` are the built files, cached as immutable (their names change with their content);
 *   the page itself is never cached (it names the current assets, and in the sandbox it carries a bearer token).
 * - Every answer carries a strict Content-Security-Policy (scripts and workers from this origin only; Monaco needs
 *   inline styles and blob: workers), nosniff, no referrer, and may not be framed.
 * - Not built (dist/explorer/manifest.json missing): 503 saying to run `npm run build`.
 *
 * The bearer token a person pastes into GraphiQL's headers editor stays in that browser (localStorage,
 * shouldPersistHeaders) and travels only in the Authorization header of requests to the endpoint: never in a URL,
 * never logged here.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import express from 'express';

export interface ExplorerOptions {
  /** The GraphQL endpoint the page talks to (same origin). */
  endpoint: string;
  /** Headers the editor starts with when the browser has none saved (the sandbox: the demo agent's bearer token). */
  initialHeaders?: Record<string, string> | (() => Promise<Record<string, string> | undefined>);
  /** The query the editor opens with. */
  defaultQuery: string;
  /** Where the built assets are; default dist/explorer (next to the compiled code). Tests point it elsewhere. */
  assetsDir?: string;
}

/** What build.mjs writes to dist/explorer/manifest.json (paths relative to that directory). */
interface Manifest {
  script: string;
  stylesheet: string;
  files: string[];
}

/**
 * The Content-Security-Policy of every explorer answer. Monaco creates its workers from this origin's files (blob: as
 * its fallback), sets inline styles and adds <style> elements; GraphiQL's fonts and icons are data: URLs in its CSS.
 */
export const EXPLORER_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': EXPLORER_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The page names the current assets and may carry a token: revalidated every time, and never stored. */
const PAGE_CACHE_CONTROL = 'no-cache, no-store';
const ASSET_MAX_AGE_MS = 365 * 24 * 3600 * 1000;

/**
 * dist/explorer, from the compiled file (dist/src/explorer/explorer.js) or from the source (src/explorer/explorer.ts,
 * under ts-jest).
 */
function defaultAssetsDir(): string {
  const up2 = resolve(__dirname, '../..');
  return basename(up2) === 'dist' ? join(up2, 'explorer') : join(up2, 'dist/explorer');
}

/** JSON for a `<script type="application/json">` block: nothing in a value can close the element or open a comment. */
export function jsonForHtml(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function escapeAttribute(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

function readManifest(dir: string): Manifest | null {
  let raw: string;
  try {
    raw = readFileSync(join(dir, 'manifest.json'), 'utf8');
  } catch {
    return null;
  }
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(raw) as Partial<Manifest>;
  } catch {
    return null; // being written
  }
  if (typeof m.script !== 'string' || typeof m.stylesheet !== 'string' || !Array.isArray(m.files)) return null;
  return m as Manifest;
}

export function explorerRouter(options: ExplorerOptions): express.Router {
  const dir = options.assetsDir ?? defaultAssetsDir();
  // A function gives fresh headers for each page (the sandbox signs a token per page view).
  const settingsFor = async () => {
    const headers =
      typeof options.initialHeaders === 'function' ? await options.initialHeaders() : options.initialHeaders;
    return jsonForHtml({
      endpoint: options.endpoint,
      defaultHeaders: headers ? JSON.stringify(headers, null, 2) : null,
      defaultQuery: options.defaultQuery,
    });
  };

  // Looked up on each request (one stat): a build next to a running server (`npm run build`) is served at once.
  let manifest: Manifest | null = null;
  let manifestMtime = -1;
  let served = new Set<string>();
  const built = (): Manifest | null => {
    let mtime: number;
    try {
      mtime = statSync(join(dir, 'manifest.json')).mtimeMs;
    } catch {
      manifest = null;
      return null;
    }
    if (!manifest || mtime !== manifestMtime) {
      manifest = readManifest(dir);
      manifestMtime = mtime;
      served = new Set(
        (manifest?.files ?? []).filter((f) => f.startsWith('assets/')).map((f) => f.slice('assets'.length)),
      );
    }
    return manifest;
  };

  const router = express.Router();

  router.use((_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  });

  router.use((_req, res, next) => {
    if (built()) {
      next();
      return;
    }
    res
      .status(503)
      .set('cache-control', 'no-store')
      .type('text/plain')
      .send(
        'The GraphQL explorer is not built: its assets are missing. Run `npm run build`, which builds them into dist/explorer/.\n',
      );
  });

  router.get('/', async (req, res) => {
    const m = built()!;
    const settings = await settingsFor();
    // Absolute URLs from where the router is mounted: right for /explorer and /explorer/ alike.
    const base = req.baseUrl;
    const asset = (p: string) => escapeAttribute(`${base}/${p}`);
    const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>GraphQL explorer · engage-gateway</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${asset(m.stylesheet)}">
<script type="application/json" id="explorer-settings">${settings}</script>
<script type="module" src="${asset(m.script)}"></script>
</head>
<body>
<div id="graphiql"><p class="explorer-loading">Loading the GraphQL explorer…</p></div>
<noscript>The GraphQL explorer needs JavaScript.</noscript>
</body>
</html>
`;
    res.status(200).set('cache-control', PAGE_CACHE_CONTROL).type('html').send(html);
  });

  const assets = express.static(join(dir, 'assets'), {
    index: false,
    immutable: true,
    maxAge: ASSET_MAX_AGE_MS,
    fallthrough: false,
    dotfiles: 'ignore',
    redirect: false,
  });
  const notFound = (res: express.Response) =>
    res.status(404).set('cache-control', 'no-store').type('text/plain').send('not found\n');
  router.use('/assets', (req, res, next) => {
    // Only what the build listed (every such name carries its content's hash).
    if (!served.has(req.path)) {
      notFound(res);
      return;
    }
    const gzipped = `${req.path}.gz`;
    if (served.has(gzipped)) {
      res.vary('Accept-Encoding');
      // The build's gzip copy, to a browser that takes it (about a third of the bytes), typed as the original.
      if (req.acceptsEncodings('gzip', 'identity') === 'gzip') {
        res.type(extname(req.path)).set('content-encoding', 'gzip');
        res.sendFile(
          join(dir, 'assets', gzipped),
          { maxAge: ASSET_MAX_AGE_MS, immutable: true, dotfiles: 'ignore' },
          (err?: unknown) => {
            if (err && !res.headersSent) notFound(res);
          },
        );
        return;
      }
    }
    assets(req, res, (err?: unknown) => {
      if (err && !res.headersSent)
        notFound(res); // listed but gone (a build under way)
      else next(err);
    });
  });

  return router;
}
