/** The gateway's version (package.json's), found from src/ (ts-jest) and from dist/src/ (compiled). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const VERSION: string = (() => {
  for (const up of ['..', '../..']) {
    const file = join(__dirname, up, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return '0.0.0';
})();
