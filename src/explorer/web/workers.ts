/**
 * Monaco's web workers, built by ../build.mjs as files of their own next to this bundle (hashed names handed over as
 * `__EXPLORER_WORKERS__`). Resolved against this module's own URL, so the page works wherever the router is mounted.
 * Must run before GraphiQL creates its first editor (main.tsx imports this module first).
 */
declare const __EXPLORER_WORKERS__: { editor: string; json: string; graphql: string };

function workerUrl(file: string): string {
  return new URL(file, import.meta.url).href;
}

(globalThis as unknown as { MonacoEnvironment: unknown }).MonacoEnvironment = {
  getWorker(_workerId: string, label: string): Worker {
    switch (label) {
      case 'json':
        return new Worker(workerUrl(__EXPLORER_WORKERS__.json), { name: 'json' });
      case 'graphql':
        return new Worker(workerUrl(__EXPLORER_WORKERS__.graphql), { name: 'graphql' });
      default:
        return new Worker(workerUrl(__EXPLORER_WORKERS__.editor), { name: label || 'editor' });
    }
  },
};

export {};
