/**
 * Rendered inside GraphiQL (it renders nothing), for the headers editor:
 * - tells the fetcher when that editor exists (see fetcher.ts);
 * - loads the schema again when the Authorization header in it changes, so the docs follow a pasted token without a
 *   click on "Re-fetch GraphQL schema";
 * - wraps long lines, so a pasted bearer token (one long word) is seen whole instead of scrolled out of view.
 */
import { tryParseJSONC, useGraphiQL, useGraphiQLActions } from '@graphiql/react';
import { useEffect, useRef } from 'react';
import { hasAuthorization, headersEditorReady } from './fetcher';

/** How long typing must pause before a changed token reloads the schema. */
const SETTLE_MS = 400;

function authorization(headers: Record<string, unknown> | undefined): string | undefined {
  if (!hasAuthorization(headers)) return undefined;
  return Object.entries(headers!).find(([name]) => name.toLowerCase() === 'authorization')![1] as string;
}

export function SchemaFollowsHeaders(): null {
  const headerEditor = useGraphiQL((state) => state.headerEditor);
  const { introspect } = useGraphiQLActions();
  // Whether the schema's last load failed (e.g. "no token"): a token then reloads it even if it is the one held before
  // (cleared, re-fetched without one, pasted back within the pause: the pause merged clear and paste into no change).
  const fetchError = useGraphiQL((state) => state.fetchError);
  const failed = useRef(false);
  failed.current = Boolean(fetchError);

  useEffect(() => {
    if (!headerEditor) return;
    headerEditor.updateOptions({ wordWrap: 'on' });
    const read = () => {
      try {
        return tryParseJSONC(headerEditor.getValue()) as Record<string, unknown> | undefined;
      } catch {
        return undefined; // not JSON (yet): GraphiQL itself says so when a query runs
      }
    };
    headersEditorReady(read);
    let last = authorization(read());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const subscription = headerEditor.onDidChangeModelContent(() => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        // A token again after none (cleared, then pasted back) reloads the schema too: its last load said "no token".
        const now = authorization(read());
        if (now && (now !== last || failed.current)) void introspect();
        last = now;
      }, SETTLE_MS);
    });
    return () => {
      clearTimeout(timer);
      subscription.dispose();
    };
  }, [headerEditor, introspect]);

  return null;
}
