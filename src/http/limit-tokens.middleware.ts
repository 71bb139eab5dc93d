/**
 * Rejects GraphQL documents with more than `n` lexical tokens before Apollo
 * parses them (a cheap guard against huge queries): 400 BAD_USER_INPUT.
 *
 * Why not graphql-armor's own Apollo plugin: it parses in `parsingDidStart`
 * and throws whatever the parser throws, and Apollo masks anything a plugin
 * hook throws as a 500, so both an ordinary syntax error and the token limit
 * itself came back as 500s (measured with armor 3.2 on Apollo 5). We reuse
 * armor's token-counting parser here, in front of Apollo, and act only on its
 * token-limit rejection; syntax errors are left to Apollo (a 400).
 *
 * The same documents come again and again (a client's few operations), and counting them was a full parse through
 * armor's proxied lexer on every request: a document of at most `n` characters cannot hold more than `n` tokens (the
 * end of the text is not counted), and a longer one found within the limit is remembered by its text (an LRU bounded
 * in bytes, WITHIN_LIMIT_BYTES), so neither is lexed again.
 *
 * A document Apollo takes from its persisted-query cache was counted here when it was registered (that request carried
 * its text); a manifest's documents are counted when the manifest is loaded (persisted-operations.ts).
 */
import { MaxTokensParserWLexer } from '@escape.tech/graphql-armor-max-tokens';
import { LRUCache } from 'lru-cache';
import type { RequestHandler } from 'express';
import type { GraphQLError } from 'graphql';
import { ErrorCode } from '../errors';
import { graphqlParams } from './graphql-params';

/** Bytes of document text remembered as within the limit (two bytes a character, as V8 may hold it). */
const WITHIN_LIMIT_BYTES = 4 * 1024 * 1024;
/** Longer documents are counted each time rather than take a large share of the memory. */
const LONGEST_REMEMBERED = 64 * 1024;

export function exceedsTokenLimit(source: string, n: number): boolean {
  // Every token but the end of the text takes at least one character.
  if (source.length <= n) return false;
  let rejected: GraphQLError | undefined;
  try {
    new MaxTokensParserWLexer(source, {
      n,
      onReject: [(_ctx: unknown, err: GraphQLError) => (rejected = err)],
    }).parseDocument();
  } catch {
    // A syntax error, or the rejection itself: only `rejected` tells them apart.
  }
  return rejected !== undefined;
}

export function limitTokens(n: number): RequestHandler {
  const withinLimit = new LRUCache<string, true>({
    maxSize: WITHIN_LIMIT_BYTES,
    sizeCalculation: (_v, text) => 2 * text.length + 64,
  });
  const exceeds = (query: string) => {
    if (withinLimit.get(query)) return false;
    if (exceedsTokenLimit(query, n)) return true;
    if (query.length > n && query.length <= LONGEST_REMEMBERED) withinLimit.set(query, true);
    return false;
  };
  return (req, res, next) => {
    // A POST's body or a GET's query string, as Apollo reads them (graphql-params.ts).
    const { query } = graphqlParams(req);
    if (typeof query === 'string' && exceeds(query)) {
      res.status(400).json({
        errors: [
          {
            message: `The query has more than ${n} tokens; split it into smaller queries`,
            extensions: { code: ErrorCode.BAD_USER_INPUT },
          },
        ],
      });
      return;
    }
    next();
  };
}
