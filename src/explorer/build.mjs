// Builds the explorer's static assets into dist/explorer (STUB: issue 15, item 1).
import { mkdirSync } from 'node:fs';
mkdirSync(new URL('../../dist/explorer/', import.meta.url), { recursive: true });
