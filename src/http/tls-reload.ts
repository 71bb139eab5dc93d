/**
 * Serving TLS itself (TLS_CERT_FILE, TLS_KEY_FILE), the gateway takes a renewed certificate without a restart: the
 * files are checked every TLS_RELOAD_SECONDS (a Kubernetes secret or cert-manager rotates them in place), and once
 * they changed and load as a matching pair, new connections are served the new one (`setSecureContext`). A pair
 * that does not load (caught half-written, a key of another certificate) is not taken: the previous one is served,
 * a warning is logged, and the files are tried again at the next check.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Server } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../logger';

export function reloadCertificateOnChange(
  server: Server,
  files: { certFile: string; keyFile: string; reloadSeconds: number },
  log: Logger,
): () => void {
  const signature = () => {
    try {
      return [files.certFile, files.keyFile]
        .map((f) => {
          const s = statSync(f);
          return `${s.mtimeMs}:${s.size}:${s.ino}`;
        })
        .join('|');
    } catch {
      return 'unreadable';
    }
  };
  let loaded = signature();
  let warned = '';
  const timer = setInterval(() => {
    const now = signature();
    if (now === loaded) return;
    try {
      const pair = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
      createSecureContext(pair); // throws unless both parse and the key is the certificate's
      server.setSecureContext(pair);
      loaded = now;
      warned = '';
      log.info('TLS certificate reloaded');
    } catch (err) {
      // The reason without a path: a file's error names it, and the key's location is not logged (as config.ts).
      const e = err as NodeJS.ErrnoException;
      if (warned !== now)
        log.warn(
          { reason: e.code && e.syscall ? e.code : e.message.slice(0, 200) },
          'could not reload the TLS certificate; still serving the previous one',
        );
      warned = now;
    }
  }, files.reloadSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
