/**
 * The GraphQL explorer in a real browser (Debian's Chromium, headless, a fresh profile), against the real sandbox
 * (`node dist/src/main.js`, as `npm start` runs it; npm test builds first): what a person does. They open /explorer,
 * paste a bearer token into the headers editor, run a query, a mutation and a query the gateway refuses, read the
 * answers and the error code in the result pane, open the schema's docs, and reload the page to find their token
 * still there. Every request the page makes goes to the gateway (nothing from a CDN), and nothing goes wrong in the
 * page (no console error, no uncaught exception, no CSP violation).
 *
 * No fixed sleeps: every step waits for what the page shows (`until`, with a generous deadline). Phase timings are
 * printed for the record, never asserted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Locator, Page, Request } from 'playwright-core';
import { describeWithChromium, launchChromium, type Browser } from '../support/chromium';
import { until } from '../support/wait';

const ROOT = resolve(__dirname, '../..');
const MAIN = join(ROOT, 'dist/src/main.js');
const ASSETS = join(ROOT, 'dist/explorer/manifest.json');

interface Sandbox {
  child: ChildProcess;
  url: string;
  agentToken: string;
  output(): string;
}

/** The sandbox on free ports with its own data folder; resolves once its banner names the URL and the agent's token. */
function startSandbox(dataDir: string): Promise<Sandbox> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATA_DIR: dataDir,
    PORT: '0',
    EMULATOR_PORT: '0',
    LOG_LEVEL: 'debug',
  };
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolveStart, reject) => {
    // Only turns a hang into a readable failure.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the sandbox printed no banner within 30 s:\n${out}`));
    }, 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const url = /GraphQL:\s+(http:\/\/\S+)\/graphql/.exec(out)?.[1];
      const agentToken = /agent agent@demo\.test:\s+(\S+)/.exec(out)?.[1];
      if (url && agentToken && /Try it:/.test(out)) {
        clearTimeout(timer);
        resolveStart({ child, url, agentToken, output: () => out });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the sandbox exited with ${code} before it was up:\n${out}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

async function gql(url: string, token: string, query: string): Promise<any> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  return res.json();
}

/** The text a Monaco editor shows (its rendered lines; Monaco draws spaces as U+00A0). */
async function shown(editor: Locator): Promise<string> {
  return (await editor.locator('.view-lines').innerText()).replace(/\u00a0/g, ' ');
}

/**
 * Replaces an editor's content as a person pasting does: the text on the clipboard, a click into the editor, select
 * all, Ctrl+V. (Typing key by key would meet Monaco's auto-closing brackets and quotes and its auto-indent.)
 */
async function paste(page: Page, editor: Locator, text: string): Promise<void> {
  await page.evaluate(`navigator.clipboard.writeText(${JSON.stringify(text)})`);
  // Near the editor's top left corner: its line area can be wider than the editor (a long line), and a click at that
  // area's centre would scroll the editor's box natively, under Monaco's own scrolling.
  await editor.click({ position: { x: 80, y: 12 } });
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('ControlOrMeta+V');
  // Monaco shows a long line wrapped (the headers editor wraps, so a token is seen whole): compared without breaks.
  const flat = (s: string) => s.replace(/\n/g, '');
  await until(
    `the editor to show what was pasted (${text.split('\n')[0].slice(0, 60)}…)`,
    async () => flat(await shown(editor)),
    (s) => s === flat(text),
  );
}

describeWithChromium('the GraphQL explorer in Chromium, on the sandbox', () => {
  let dataDir: string;
  let shotDir: string;
  let sandbox: Sandbox | undefined;
  let browser: Browser | undefined;

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does it first)`);
    if (!existsSync(ASSETS))
      throw new Error(`${ASSETS} is missing: run \`npm run build\`, which builds the explorer into dist/explorer/`);
    dataDir = mkdtempSync(join(tmpdir(), 'engage-explorer-sandbox-'));
    shotDir = mkdtempSync(join(tmpdir(), 'engage-explorer-test-'));
  });

  afterAll(async () => {
    await browser?.close();
    if (sandbox) await stop(sandbox.child);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('a person pastes a token, runs a query, a mutation and a refused query, reads the docs, and reloads', async () => {
    const timings: Record<string, number> = {};
    let mark = performance.now();
    const phase = (name: string) => {
      const now = performance.now();
      timings[name] = Math.round(now - mark);
      mark = now;
    };

    // The sandbox and the browser start side by side (each kept for afterAll as soon as it is up, even if the other
    // fails).
    const started = await Promise.allSettled([
      startSandbox(dataDir).then((s) => (sandbox = s)),
      launchChromium().then((b) => (browser = b)),
    ]);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    if (!sandbox || !browser) throw new Error('unreachable: both started');
    const { url, agentToken } = sandbox;
    const origin = new URL(url);
    phase('start sandbox + chromium');

    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    const requests: Request[] = [];
    const consoleErrors: string[] = [];
    const pageErrors: string[] = [];
    browser.context.on('request', (r) => requests.push(r));
    const graphqlPosts = () =>
      requests.filter((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/graphql');
    const introspectionsWith = (token: string) =>
      graphqlPosts().filter(
        (r) => r.headers().authorization === `Bearer ${token}` && /IntrospectionQuery/.test(r.postData() ?? ''),
      ).length;
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const workers: string[] = [];
    page.on('worker', (w) => workers.push(w.url()));

    const queryEditor = page.locator('.graphiql-query-editor .monaco-editor');
    const headersEditor = page.locator('.graphiql-editor-tool .monaco-editor[data-uri$="request-headers.json"]');
    const result = page.locator('.graphiql-response .result-window .monaco-editor');
    const execute = page.locator('button.graphiql-execute-button');
    const activeTab = page.locator('.graphiql-tab-active .graphiql-tab-button');
    /**
     * Pastes a named operation, waits until GraphiQL has read it (the tab takes its name), runs it, waits for the
     * answer.
     */
    const run = async (query: string, expected: (shown: string) => boolean, what: string) => {
      const name = /^(?:query|mutation) (\w+)/.exec(query)![1];
      await paste(page, queryEditor, query);
      await until(
        `the active tab to be named ${name}`,
        () => activeTab.innerText(),
        (t) => t.trim() === name,
      );
      await execute.click();
      return until(`the result pane to show ${what}`, () => shown(result), expected);
    };
    const savedHeaders = () => page.evaluate('localStorage.getItem("graphiql:headers")') as Promise<string | null>;

    // 1. The page, as the sandbox opens it: the example query, and the demo agent's token already in the headers.
    await page.goto(`${url}/explorer`);
    await execute.waitFor();
    await until(
      'the headers editor to hold the sandbox demo token',
      () => shown(headersEditor),
      (s) => /"Authorization": "Bearer \S+/.test(s),
    );
    expect(await shown(queryEditor)).toContain('query Me {');
    phase('open /explorer');

    // 2. A person without a token: the headers editor emptied, the schema asked for again. No request is sent; the
    //    page says to paste a token.
    await headersEditor.click({ position: { x: 80, y: 12 } });
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await until(
      'the headers editor to be empty',
      () => shown(headersEditor),
      (s) => s.trim() === '',
    );
    const postsBefore = graphqlPosts().length;
    await page.locator('button[aria-label^="Re-fetch GraphQL schema"]').click();
    await until(
      'the result pane to say a token is needed',
      async () => (await shown(result)).replace(/\n/g, ' '),
      (s) => s.includes('No token yet: paste'),
    );
    expect(graphqlPosts().length).toBe(postsBefore);

    // 3. They paste their token. It is kept in this browser (GraphiQL's shouldPersistHeaders), never put in the URL,
    //    and the schema loads with it by itself.
    const typedHeaders = `{"Authorization":"Bearer ${agentToken}"}`;
    // (The page's own token may be this very one, signed in the same second: counted from here.)
    const introspectedBefore = introspectionsWith(agentToken);
    await paste(page, headersEditor, typedHeaders);
    await until('the pasted headers to be saved in localStorage', savedHeaders, (v) => v === typedHeaders);
    await until(
      'the schema to be loaded again with the pasted token',
      () => introspectionsWith(agentToken),
      (n) => n > introspectedBefore,
    );
    expect(page.url()).toBe(`${url}/explorer`);
    phase('no token, then paste one');

    // 4. A query, then a page of contacts, shown as the API answers them.
    await run(
      'query MyEmail {\n  me {\n    email\n  }\n}',
      (s) => s.includes('"email": "agent@demo.test"'),
      "the agent's email",
    );
    const contacts = (
      await gql(url, agentToken, '{ contacts(first: 5) { totalCount edges { node { displayName } } } }')
    ).data.contacts;
    expect(contacts.edges.length).toBeGreaterThan(0);
    const names: string[] = contacts.edges.map((e: { node: { displayName: string } }) => e.node.displayName);
    const contactsShown = await run(
      'query FirstContacts {\n  contacts(first: 5) {\n    totalCount\n    edges {\n      node {\n        displayName\n      }\n    }\n  }\n}',
      (s) =>
        s.includes(`"totalCount": ${contacts.totalCount}`) && names.every((n) => s.includes(`"displayName": "${n}"`)),
      `the contacts ${names.join(', ')}`,
    );
    expect(contactsShown).not.toContain('"errors"');
    phase('query me + contacts');

    // 5. A mutation.
    const created = await run(
      'mutation AddContact {\n  createContact(input: { givenName: "Ines", familyName: "Explorer", emails: [{ value: "ines.explorer@buyer.test" }] }) {\n    displayName\n    emails {\n      value\n    }\n  }\n}',
      (s) => s.includes('"displayName": "Ines Explorer"') || s.includes('"errors"'),
      'the created contact',
    );
    expect(created).toContain('"value": "ines.explorer@buyer.test"');
    phase('mutation');

    // 6. The schema's docs: the root types, then the Query type's fields.
    await page.locator('button[aria-label="Show Documentation Explorer"]').click();
    const docs = page.locator('.graphiql-doc-explorer');
    await until(
      'the docs to name the root types',
      () => docs.innerText(),
      (s) => /query:\s*Query/.test(s) && /mutation:\s*Mutation/.test(s),
    );
    await docs
      .locator('a.graphiql-doc-explorer-type-name', { hasText: /^Query$/ })
      .first()
      .click();
    const queryDocs = await until(
      'the docs of the Query type',
      () => docs.innerText(),
      (s) => /\bme\b/.test(s) && /\bcontacts\b/.test(s) && /\bAgent\b/.test(s),
    );
    expect(queryDocs).toMatch(/Query/);
    phase('docs');

    // 7. Monaco's GraphQL worker checks what is typed against the schema: a misspelt field is marked in the editor.
    await paste(page, queryEditor, 'query Typo {\n  me {\n    emial\n  }\n}');
    await until(
      'the misspelt field to be marked as an error',
      () => queryEditor.locator('.squiggly-error').count(),
      (n) => n > 0,
    );
    phase('validation in the editor');

    // 8. A query the gateway refuses: the raw result shows our error code.
    const refused = await run(
      'query TooMany {\n  contacts(first: 1000) {\n    totalCount\n  }\n}',
      (s) => s.includes('"errors"') && s.includes('"code": '),
      'an error with its code',
    );
    expect(refused).toContain('"code": "BAD_USER_INPUT"');
    expect(refused).toContain('"field": "first"');
    expect(refused).toContain('"data": null');
    phase('refused query');

    // Valid against the schema (only the gateway knows the limit of 200): the marks of the misspelt query are gone.
    await until(
      'the valid query to carry no error mark',
      () => queryEditor.locator('.squiggly-error').count(),
      (n) => n === 0,
    );

    const screenshot = join(shotDir, 'explorer.png');
    await page.screenshot({ path: screenshot });
    console.log(`explorer screenshot: ${screenshot}`);

    // 9. A reload keeps the pasted headers (localStorage): shown as pasted, and they still work.
    await page.reload();
    await execute.waitFor();
    await until(
      'the headers editor to show the pasted headers, whole, after the reload',
      async () => (await shown(headersEditor)).replace(/\n/g, ''),
      (s) => s === typedHeaders,
    );
    expect(await savedHeaders()).toBe(typedHeaders);
    await run(
      'query MyEmailAgain {\n  me {\n    email\n  }\n}',
      (s) => s.includes('"email": "agent@demo.test"'),
      "the agent's email, after the reload",
    );
    phase('reload');

    // 10. A first visit (nothing kept in this browser): the example works as the page opens it, with its own token.
    // Cleared with the explorer closed: GraphiQL writes its tabs to storage as it goes and as it unloads, so a clear
    // made while it is open could be written over before the reload (seen once in CI: the old tab came back).
    await page.goto('about:blank');
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Storage.clearDataForOrigin', { origin: origin.origin, storageTypes: 'local_storage' });
    await cdp.detach();
    await page.goto(`${url}/explorer`);
    await until(
      'the headers editor to hold the sandbox demo token again',
      () => shown(headersEditor),
      (s) => /"Authorization": "Bearer \S+/.test(s),
    );
    await until(
      'the example to be read (its tab named Me)',
      () => activeTab.innerText(),
      (t) => t.trim() === 'Me',
    );
    await execute.click();
    const example = await until(
      "the example's answer",
      () => shown(result),
      (s) => s.includes('"email": "agent@demo.test"') && s.includes('"totalCount"'),
    );
    expect(example).not.toContain('"errors"');
    phase('the example, as opened');

    // 11. The next day: the token this browser kept has expired. The page's fresh one replaces it (GraphiQL would
    //     otherwise prefer what it kept, and every request would be UNAUTHENTICATED).
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const stale = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ email: 'agent@demo.test', exp: 1_000_000 })}.c2lnbmF0dXJl`;
    await page.evaluate(
      `localStorage.setItem("graphiql:headers", ${JSON.stringify(JSON.stringify({ Authorization: `Bearer ${stale}` }))})`,
    );
    await page.reload();
    await until(
      "the expired kept token replaced by the page's",
      () => shown(headersEditor),
      (s) => /"Authorization": ?"Bearer \S+/.test(s) && !s.includes(stale),
    );
    await run(
      'query NextDay {\n  me {\n    email\n  }\n}',
      (s) => s.includes('"email": "agent@demo.test"'),
      "the agent's email with the page's token",
    );
    phase('an expired kept token');

    // Every request went to the gateway: nothing from a CDN or any other host (data: URLs are no requests to anyone).
    const network = requests.map((r) => r.url()).filter((r) => !r.startsWith('data:'));
    expect(network.length).toBeGreaterThan(5);
    expect(network.filter((r) => new URL(r).host !== origin.host)).toEqual([]);
    expect(
      network.filter((r) => /[?&#](token|authorization|access_token)=/i.test(r) || r.includes(agentToken)),
    ).toEqual([]);
    // Monaco's three workers ran, from this origin's files (not Monaco's fallback onto the page's own thread).
    expect(new Set(workers.map((w) => new URL(w).pathname.replace(/-\w+\.js$/, '')))).toEqual(
      new Set(['/explorer/assets/editor.worker', '/explorer/assets/json.worker', '/explorer/assets/graphql.worker']),
    );
    expect(consoleErrors).toEqual([]);
    expect(pageErrors).toEqual([]);
    // No log line (JSON, LOG_LEVEL=debug) carries a token: neither the pasted one nor the one the sandbox filled in
    // (only the banner prints tokens).
    const logLines = sandbox
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.filter((l) => /Bearer|eyJ[\w-]+\.eyJ/.test(l))).toEqual([]);

    console.log(
      `explorer test phases (ms): ${JSON.stringify(timings)}; ${network.length} requests, all to ${origin.host}`,
    );
  }, 90_000);
});
