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
 * A document Apollo takes from its persisted-query cache was counted here when it was registered (that request carried
 * its text); a manifest's documents are counted when the manifest is loaded (persisted-operations.ts).
 */
import { MaxTokensParserWLexer } from '@escape.tech/graphql-armor-max-tokens';
import type { RequestHandler } from 'express';
import type { GraphQLError } from 'graphql';
import { ErrorCode } from '../errors';
import { graphqlParams } from './graphql-params';

export function exceedsTokenLimit(source: string, n: number): boolean {
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
  return (req, res, next) => {
    // A POST's body or a GET's query string, as Apollo reads them (graphql-params.ts).
    const { query } = graphqlParams(req);
    if (typeof query === 'string' && exceedsTokenLimit(query, n)) {
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
