/**
 * A real browser for the tests of browser pages (the GraphQL explorer): Debian's Chromium, driven by playwright-core
 * (which downloads nothing). Without Chromium: a failure on CI (CI=true), a loud skip elsewhere, as for MariaDB
 * (global-setup.ts).
 *
 * Chromium runs headless in a fresh temporary profile, with everything that would reach Google's hosts on its own
 * (background networking, component updates, sync, QUIC probes) turned off: the tests' machines refuse them, and a
 * test must see only the requests the page makes.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_INSTALL_HINT = 'apt-get update && apt-get install -y chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

type ChromiumAvailability = { ok: true } | { ok: false; why: string };

function chromiumAvailability(): ChromiumAvailability {
  if (existsSync(CHROMIUM_PATH)) return { ok: true };
  return {
    ok: false,
    why: `Chromium was not found at ${CHROMIUM_PATH} (set CHROMIUM_PATH, or install it with: ${CHROMIUM_INSTALL_HINT})`,
  };
}

/**
 * `describe`, when Chromium is here; otherwise, on CI a failing test that says what is missing, elsewhere a loud
 * warning and `describe.skip`.
 */
export function describeWithChromium(title: string, body: () => void): void {
  const availability = chromiumAvailability();
  if (availability.ok) {
    describe(title, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(title, () => {
      test('Chromium is installed (required on CI)', () => {
        throw new Error(`Chromium is required on CI (CI=true): ${availability.why}`);
      });
    });
    return;
  }
  console.warn(`!! SKIPPED "${title}": ${availability.why}. On CI (CI=true) this is a failure.`);
  describe.skip(title, body);
}

export interface Browser {
  context: BrowserContext;
  /** The fresh profile's folder (removed by close). */
  profileDir: string;
  close(): Promise<void>;
}

/**
 * Chromium in a fresh, temporary profile (its own localStorage, cache and cookies). Pages may use the clipboard (a
 * test pastes as a person does: text on the clipboard, then Ctrl+V); headless Chromium's clipboard is its own.
 */
export async function launchChromium(viewport = { width: 1440, height: 900 }): Promise<Browser> {
  const profileDir = mkdtempSync(join(tmpdir(), 'engage-chromium-profile-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport,
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  return {
    context,
    profileDir,
    async close() {
      await context.close();
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}
