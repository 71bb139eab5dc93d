// Builds the explorer's static assets (GraphiQL 5, React 19, the Monaco editor and its workers) into dist/explorer,
// with esbuild's JS API. Run by `npm run build` after tsc; nothing is fetched at run time from anywhere else.
//
//   dist/explorer/manifest.json          what the router serves: { script, stylesheet, files }
//   dist/explorer/assets/main-<hash>.js  the page's entry (ES module; monaco and prettier are lazy chunks)
//   dist/explorer/assets/main-<hash>.css GraphiQL's, Monaco's and our CSS
//   dist/explorer/assets/chunk-<hash>.js lazily imported code
//   dist/explorer/assets/{editor,json,graphql}.worker-<hash>.js  Monaco's web workers (classic scripts)
//   dist/explorer/assets/codicon-<hash>.ttf  Monaco's icon font (GraphiQL's own fonts are data: URLs in its CSS)
//
// Every file under assets/ is named by a hash of its content (served as immutable); the build is deterministic: the
// same sources give byte-identical output. GraphiQL documents how to give Monaco its workers per bundler
// (graphiql/setup-workers/{webpack,vite}); for esbuild we build the three workers as entries of their own first and
// hand the page their hashed file names (`__EXPLORER_WORKERS__`), which web/workers.ts turns into `new Worker(url)`.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const started = performance.now();
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const target = join(root, 'dist/explorer');
// Built aside, then swapped in with two renames: a server running next to the build (the sandbox, another test)
// never sees a half-written dist/explorer.
const outdir = join(root, 'dist', `.explorer-build-${process.pid}`);
const assets = join(outdir, 'assets');
process.on('exit', (code) => {
  if (code !== 0) rmSync(outdir, { recursive: true, force: true }); // a failed build leaves nothing behind
});
const require = createRequire(import.meta.url);

/** Options both builds share. */
const common = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  target: ['es2022', 'chrome111', 'firefox111', 'safari16.4'],
  platform: 'browser',
  define: { 'process.env.NODE_ENV': '"production"' },
  outdir: assets,
  assetNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  entryNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
  charset: 'utf8',
};

rmSync(outdir, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

// 1. Monaco's workers: the editor's own (default label), JSON (the variables/headers/result editors) and GraphQL
//    (monaco-graphql's language service: completion, validation, hover).
const workerEntries = {
  'editor.worker': require.resolve('monaco-editor/esm/vs/editor/editor.worker.js'),
  'json.worker': require.resolve('monaco-editor/esm/vs/language/json/json.worker.js'),
  'graphql.worker': require.resolve('monaco-graphql/esm/graphql.worker.js'),
};
const workers = await esbuild.build({ ...common, entryPoints: workerEntries, format: 'iife' });
/** label → file name of the built worker */
const workerFiles = {};
for (const [file, out] of Object.entries(workers.metafile.outputs)) {
  if (!out.entryPoint) continue;
  const label = Object.keys(workerEntries).find((k) => join(root, out.entryPoint) === workerEntries[k]);
  if (label) workerFiles[label.replace('.worker', '')] = basename(file);
}
for (const label of ['editor', 'json', 'graphql']) {
  if (!workerFiles[label]) throw new Error(`explorer build: the ${label} worker was not built`);
}

// 2. The page. graphql-ws is an optional dependency of @graphiql/toolkit, only imported for subscriptions over a
//    websocket, which the gateway does not serve: it is replaced with a module that says so.
const noWebsockets = {
  name: 'no-graphql-ws',
  setup(build) {
    build.onResolve({ filter: /^graphql-ws$/ }, () => ({ path: 'graphql-ws', namespace: 'explorer-stub' }));
    build.onLoad({ filter: /.*/, namespace: 'explorer-stub' }, () => ({
      contents:
        'export function createClient() { throw new Error("subscriptions over websockets are not served by this gateway"); }',
      loader: 'js',
    }));
  },
};
const page = await esbuild.build({
  ...common,
  entryPoints: { main: join(here, 'web/main.tsx') },
  format: 'esm',
  splitting: true,
  jsx: 'automatic',
  loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file', '.svg': 'dataurl', '.png': 'dataurl' },
  define: { ...common.define, __EXPLORER_WORKERS__: JSON.stringify(workerFiles) },
  plugins: [noWebsockets],
});

const entry = Object.entries(page.metafile.outputs).find(
  ([, o]) => o.entryPoint && o.entryPoint.endsWith('web/main.tsx'),
);
if (!entry || !entry[1].cssBundle) throw new Error('explorer build: the page entry or its stylesheet is missing');

// 3. esbuild writes the CSS that lazily imported chunks import (Monaco's own, under GraphiQL's import('monaco-editor'))
//    into CSS files of their own that nothing loads. GraphiQL's style.css already carries all of Monaco's CSS (that is
//    why its README says to import it), so those files are redundant: checked rule by rule, then not shipped. Should a
//    future GraphiQL stop bundling them, the build fails here instead of shipping an unstyled editor.
const outputs = { ...workers.metafile.outputs, ...page.metafile.outputs };
const pageCss = readFileSync(join(root, entry[1].cssBundle), 'utf8');
for (const file of Object.keys(page.metafile.outputs)) {
  if (!file.endsWith('.css') || file === entry[1].cssBundle) continue;
  const missing = readFileSync(join(root, file), 'utf8')
    .split('}')
    .map((r) => r.trim())
    .filter((r) => r && !pageCss.includes(r));
  if (missing.length > 0)
    throw new Error(
      `explorer build: ${file} (CSS of a lazily loaded chunk) has ${missing.length} rules the page's stylesheet lacks, e.g. ${missing[0].slice(0, 120)}`,
    );
  rmSync(join(root, file));
  delete outputs[file];
}

const rel = (p) => relative(outdir, join(root, p)).split('\\').join('/');
// 4. A gzip copy of each script, stylesheet and font (7 MiB become about 2 MiB on the wire), served to browsers that
//    accept it; level 9 takes about half a second for all of them, and the output is the same on every build.
const gzipped = [];
for (const file of Object.keys(outputs)) {
  if (!/\.(js|css|ttf)$/.test(file)) continue;
  writeFileSync(join(root, `${file}.gz`), gzipSync(readFileSync(join(root, file)), { level: 9 }));
  gzipped.push(`${rel(file)}.gz`);
}
const files = [...Object.keys(outputs).map(rel), ...gzipped].sort();
const manifest = { script: rel(entry[0]), stylesheet: rel(entry[1].cssBundle), workers: workerFiles, files };
writeFileSync(join(outdir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
const previous = join(root, 'dist', `.explorer-previous-${process.pid}`);
if (existsSync(target)) renameSync(target, previous);
renameSync(outdir, target);
rmSync(previous, { recursive: true, force: true });
// EXPLORER_METAFILE=path: esbuild's metafile of the page, for https://esbuild.github.io/analyze/ (what is in the bundle).
if (process.env.EXPLORER_METAFILE) writeFileSync(process.env.EXPLORER_METAFILE, JSON.stringify(page.metafile));

const bytes = Object.values(outputs).reduce((n, o) => n + o.bytes, 0);
const zipped = gzipped.reduce((n, f) => n + statSync(join(target, f)).size, 0);
const mib = (n) => (n / 1024 / 1024).toFixed(1);
console.log(
  `explorer: ${files.length - gzipped.length} files, ${mib(bytes)} MiB (${mib(zipped)} MiB as gzip) in dist/explorer (${Math.round(performance.now() - started)} ms)`,
);
