/**
 * GET /explorer: GraphiQL 5 against this gateway's own /graphql (same origin). The bearer token lives in GraphiQL's
 * headers editor and is kept in this browser's localStorage (shouldPersistHeaders): never in a URL.
 */
import './workers';
import { GraphiQL } from 'graphiql';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import './explorer.css';
import { createFetcher } from './fetcher';
import { SchemaFollowsHeaders } from './schema-headers';
import { readSettings } from './settings';

const settings = readSettings();
refreshExpiredTokens(settings.defaultHeaders);

/**
 * GraphiQL prefers the headers it kept in this browser to the page's: a sandbox token kept from an earlier visit
 * (12 hours) would win over the fresh one this page brings, and the explorer would answer UNAUTHENTICATED the next
 * day. Kept tokens that have expired are swapped for the page's, in every place GraphiQL keeps headers (the editor and
 * each tab); a token someone pasted that is still valid is left as it is.
 */
function refreshExpiredTokens(pageHeaders: string | null): void {
  const fresh = pageHeaders ? /Bearer\s+([\w-]+\.[\w-]+\.[\w-]+)/.exec(pageHeaders)?.[1] : undefined;
  if (!fresh) return;
  const expired = (jwt: string) => {
    try {
      const payload = JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown };
      return typeof payload.exp === 'number' && payload.exp * 1000 <= Date.now();
    } catch {
      return false;
    }
  };
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (!key?.startsWith('graphiql:')) continue;
    const value = localStorage.getItem(key);
    if (!value) continue;
    const updated = value.replace(/Bearer\s+([\w-]+\.[\w-]+\.[\w-]+)/g, (whole, jwt: string) =>
      expired(jwt) ? `Bearer ${fresh}` : whole,
    );
    if (updated !== value) localStorage.setItem(key, updated);
  }
}

const fetcher = createFetcher(settings.endpoint);

const container = document.getElementById('graphiql');
if (!container) throw new Error('explorer: the page has no #graphiql element');
container.textContent = '';

createRoot(container).render(
  <StrictMode>
    <GraphiQL
      fetcher={fetcher}
      defaultQuery={settings.defaultQuery}
      defaultHeaders={settings.defaultHeaders ?? undefined}
      shouldPersistHeaders
      defaultEditorToolsVisibility="headers"
    >
      <GraphiQL.Logo>engage-gateway</GraphiQL.Logo>
      <SchemaFollowsHeaders />
    </GraphiQL>
  </StrictMode>,
);
