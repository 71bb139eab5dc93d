/**
 * The sandbox's Google: the Google Workspace emulator, the workspace package `google-workspace-emulator`
 * (test/google-workspace-emulator/), which the gateway has as a dev dependency only. It is loaded here, with a dynamic
 * import, only when the sandbox starts it (main.ts, when config.google.useSandboxEmulator), so a production install,
 * which leaves the emulator and its dependencies out, never needs it.
 */
import type { EmulatorOptions, RunningEmulator } from 'google-workspace-emulator';

/** Starts the emulator in this process; fails naming the fix when the install left the emulator out. */
export async function startEmulator(opts: EmulatorOptions): Promise<RunningEmulator> {
  let emulator: typeof import('google-workspace-emulator');
  try {
    emulator = await import('google-workspace-emulator');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw err;
    throw new Error(
      'the sandbox runs Google as the in-process Google Workspace emulator (package google-workspace-emulator, a dev ' +
        'dependency), which this install does not have (installed with --omit=dev?): run `npm ci`, or point the ' +
        `gateway at Google with GOOGLE_API_ROOT_URL (${(err as Error).message})`,
      { cause: err },
    );
  }
  return emulator.startEmulator(opts);
}
