/**
 * Bounds the shape of a request's variables before GraphQL sees them: no list
 * longer than `maxItems`, no nesting deeper than `maxDepth`. 400
 * BAD_USER_INPUT otherwise, naming the path.
 *
 * Why here: graphql-js coerces every element of a list variable into its
 * input type, and type-graphql then builds and validates an object per
 * element, all before a resolver can count them. Measured before this guard:
 * `createContacts` with 349,458 × `{}` (a 1 MiB body) held the event loop
 * 20.6 s before the service answered "at most 1000"; 10 M recipients in a
 * large sendMail body 5.9 s. No operation takes a list longer than the
 * largest limit of a service (1,000 contacts, MAIL_MAX_RECIPIENTS up to
 * 2,000 addresses), so one walk of the parsed JSON (iterative: no recursion a
 * deep document could overflow) refuses such requests at the cost of reading
 * them once. Lists written in the query itself are bounded by the token limit.
 */
import type { RequestHandler } from 'express';
import { ErrorCode } from '../errors';
import { graphqlParams } from './graphql-params';

/** Deeper than any of our input types nests (an input inside a list inside an input…). */
const MAX_VARIABLE_DEPTH = 32;

/** The first path in `value` that breaks the bounds, with what is wrong; null when none does. */
function oversizedVariable(
  value: unknown,
  maxItems: number,
  maxDepth = MAX_VARIABLE_DEPTH,
): { path: string; problem: string } | null {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: 'variables', depth: 0 }];
  while (stack.length) {
    const { v, path, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > maxDepth) return { path, problem: `is nested more than ${maxDepth} levels deep` };
    if (Array.isArray(v)) {
      if (v.length > maxItems) return { path, problem: `has ${v.length} items; a list takes at most ${maxItems}` };
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], path: `${path}[${i}]`, depth: depth + 1 });
    } else {
      for (const [k, child] of Object.entries(v))
        stack.push({ v: child, path: `${path}.${k.slice(0, 40)}`, depth: depth + 1 });
    }
  }
  return null;
}

export function limitVariables(maxItems: number): RequestHandler {
  return (req, res, next) => {
    // A POST's body or a GET's `variables` parameter (JSON in the query string), as Apollo reads them.
    const bad = oversizedVariable(graphqlParams(req).variables, maxItems);
    if (!bad) return next();
    res.status(400).json({
      errors: [
        {
          message: `${bad.path} ${bad.problem}`,
          extensions: { code: ErrorCode.BAD_USER_INPUT, field: bad.path, reason: 'too_many_items' },
        },
      ],
    });
  };
}
