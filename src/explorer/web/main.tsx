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
