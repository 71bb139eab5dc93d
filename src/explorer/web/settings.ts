/**
 * The page's settings, written by the server into `<script type="application/json" id="explorer-settings">` (no
 * inline script: the Content-Security-Policy allows scripts from this origin's files only).
 */
export interface ExplorerSettings {
  /** The GraphQL endpoint (same origin, absolute path). */
  endpoint: string;
  /** The headers editor's content when this browser has none saved (JSON text), or null. */
  defaultHeaders: string | null;
  /** The query editor's content when this browser has none saved. */
  defaultQuery: string;
}

export function readSettings(): ExplorerSettings {
  const el = document.getElementById('explorer-settings');
  if (!el?.textContent) throw new Error('explorer: the page has no settings block (#explorer-settings)');
  const raw = JSON.parse(el.textContent) as Partial<ExplorerSettings>;
  if (typeof raw.endpoint !== 'string' || !raw.endpoint.startsWith('/'))
    throw new Error('explorer: settings.endpoint must be a same-origin path');
  return {
    endpoint: raw.endpoint,
    defaultHeaders: typeof raw.defaultHeaders === 'string' ? raw.defaultHeaders : null,
    defaultQuery: typeof raw.defaultQuery === 'string' ? raw.defaultQuery : '',
  };
}
