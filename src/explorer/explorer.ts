/**
 * GET /explorer: GraphiQL for internal tools, served from assets built at build time (src/explorer/build.mjs), with
 * nothing loaded from elsewhere. STUB: the explorer is being built (issue 15, item 1).
 */
import express from 'express';

export interface ExplorerOptions {
  /** The GraphQL endpoint the page talks to (same origin). */
  endpoint: string;
  /** Headers the editor starts with when the browser has none saved (the sandbox: the demo agent's bearer token). */
  initialHeaders?: Record<string, string>;
  /** The query the editor opens with. */
  defaultQuery: string;
}

export function explorerRouter(_options: ExplorerOptions): express.Router {
  const router = express.Router();
  router.get('/', (_req, res) => {
    res.status(503).type('text/plain').send('explorer not built');
  });
  return router;
}
