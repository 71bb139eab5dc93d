/**
 * selects(): whether a list's resolver must read a per-item field for the whole page (src/graphql/selection.ts).
 */
import { buildSchema, graphql, type GraphQLResolveInfo } from 'graphql';
import { selects } from '../../src/graphql/selection';

const schema = buildSchema(`
  type Label { name: String }
  type Node { id: ID labels: [Label] }
  type Edge { node: Node }
  type Page { edges: [Edge] }
  type Query { page: Page }
`);

async function seen(query: string, variableValues?: Record<string, unknown>): Promise<boolean> {
  let answer: boolean | undefined;
  const result = await graphql({
    schema,
    source: query,
    variableValues,
    rootValue: {
      page: (_args: unknown, _ctx: unknown, info: GraphQLResolveInfo) => {
        answer = selects(info, ['edges', 'node', 'labels']);
        return { edges: [] };
      },
    },
  });
  expect(result.errors).toBeUndefined();
  return answer!;
}

test('a field on the path is seen; a sibling is not', async () => {
  expect(await seen('{ page { edges { node { labels { name } } } } }')).toBe(true);
  expect(await seen('{ page { edges { node { id } } } }')).toBe(false);
  expect(await seen('{ page { edges { node { labelsAlias: id } } } }')).toBe(false);
});

test('through fragments, inline fragments and aliases', async () => {
  expect(
    await seen(
      '{ page { ...P } } fragment P on Page { edges { node { ...N } } } fragment N on Node { l: labels { name } }',
    ),
  ).toBe(true);
  expect(await seen('{ page { edges { ... on Edge { node { labels { name } } } } } }')).toBe(true);
  expect(await seen('{ page { ...P } } fragment P on Page { edges { node { id } } }')).toBe(false);
});

test('@skip and @include decide, with the request variables', async () => {
  expect(await seen('{ page { edges { node { labels @skip(if: true) { name } } } } }')).toBe(false);
  expect(await seen('{ page { edges { node { labels @include(if: false) { name } } } } }')).toBe(false);
  expect(
    await seen('query ($l: Boolean!) { page { edges { node { labels @include(if: $l) { name } } } } }', { l: true }),
  ).toBe(true);
  expect(
    await seen('query ($l: Boolean!) { page { edges @skip(if: $l) { node { labels { name } } } } }', { l: true }),
  ).toBe(false);
  expect(await seen('{ page { ... @skip(if: true) { edges { node { labels { name } } } } } }')).toBe(false);
});
