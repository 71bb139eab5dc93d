/**
 * Relay-style connections (https://relay.dev/graphql/connections.htm), one implementation for every list of the API:
 * the `first` check, opaque `after` cursors and `pageInfo`.
 *
 * A cursor is the sort key of its row (e.g. `[sortKey, id]`) as JSON in base64url. Clients treat it as opaque; the
 * format is stable across releases, so a cursor a client kept keeps working after a deploy. A cursor this API did not
 * return is BAD_USER_INPUT naming `after`, never a 500.
 */
import { Field, ObjectType } from 'type-graphql';
import { badInput } from '../errors';

@ObjectType('PageInfo', { simpleResolvers: true })
export class PageInfoType {
  @Field()
  hasNextPage: boolean;

  @Field(() => String, { nullable: true })
  endCursor: string | null;
}

/**
 * A connection's totalCount, counted only when a client selects it: a COUNT over the agent's rows costs about as much
 * as the page itself, and most pages never show it. The connection types declare `totalCount` as a method calling it.
 */
export type Count = () => Promise<number>;

/** What a list's service answers for a connection type with a counted totalCount: the page and its Count. */
export type CountedPage<C> = Omit<C, 'totalCount'>;

export interface Edge<N> {
  cursor: string;
  node: N;
}

export interface Page<N> {
  edges: Edge<N>[];
  pageInfo: PageInfoType;
}

/** `first` must be a whole number from 1 to `max`. */
export function checkFirst(first: number, max: number): void {
  if (!Number.isInteger(first) || first < 1 || first > max)
    throw badInput(`"first" must be from 1 to ${max} (got ${first})`, { field: 'first' });
}

type Part = 'string' | 'integer' | 'number';
type PartValue<P extends Part> = P extends 'string' ? string : number;
type Key<S extends readonly Part[]> = { -readonly [I in keyof S]: PartValue<S[I]> };

/** A cursor for a row whose sort key is `key`. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** Cursors are short; a longer `after` is not ours, and is not decoded. */
const MAX_CURSOR_LENGTH = 2048;

/**
 * The sort key in `cursor`, checked against `shape` (one entry per part); BAD_USER_INPUT when it is not a cursor of
 * this list.
 */
export function decodeCursor<const S extends readonly Part[]>(cursor: string, shape: S): Key<S> {
  if (cursor.length <= MAX_CURSOR_LENGTH) {
    try {
      const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (Array.isArray(v) && v.length === shape.length && shape.every((p, i) => fits(p, v[i]))) return v as Key<S>;
    } catch {
      // not JSON: not ours
    }
  }
  throw badInput(`"after" is not a cursor this API returned (got "${cursor.slice(0, 60)}")`, { field: 'after' });
}

function fits(p: Part, v: unknown): boolean {
  return p === 'string'
    ? typeof v === 'string'
    : p === 'integer'
      ? Number.isInteger(v)
      : typeof v === 'number' && Number.isFinite(v);
}

/**
 * The page of a list read with one row more than `first` (that extra row only says there is a next page). `emptyEnd`
 * is the endCursor of an empty page: null for a list (nothing to continue from), the cursor given for a change feed
 * (the client keeps polling from where it is).
 */
export function pageOf<R, N>(
  rows: readonly R[],
  first: number,
  cursorOf: (row: R) => string,
  nodeOf: (row: R) => N,
  emptyEnd: string | null = null,
): Page<N> {
  return edgesPage(
    rows.slice(0, first).map((r) => ({ cursor: cursorOf(r), node: nodeOf(r) })),
    rows.length > first,
    emptyEnd,
  );
}

/** A page of edges already cut to size; its endCursor is the last edge's, or `emptyEnd` (see pageOf). */
export function edgesPage<N>(edges: Edge<N>[], hasNextPage: boolean, emptyEnd: string | null = null): Page<N> {
  return { edges, pageInfo: { hasNextPage, endCursor: edges.length ? edges[edges.length - 1].cursor : emptyEnd } };
}
