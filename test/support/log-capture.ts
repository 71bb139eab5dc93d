import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger';

/**
 * A logger at `level` that writes into memory, for tests that read what the gateway logged: `lines` as written (one
 * JSON line each), `text()` all of it, `entries()` each line parsed.
 */
export function captureLog(level: string): {
  log: Logger;
  lines: string[];
  text(): string;
  entries(): Record<string, any>[];
} {
  const lines: string[] = [];
  const log = createLogger(
    level,
    new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    }),
  );
  return {
    log,
    lines,
    text: () => lines.join(''),
    entries: () =>
      lines
        .join('')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, any>),
  };
}
