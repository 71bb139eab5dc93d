/**
 * Whether an operation asks for a field below the one being resolved, so a list's resolver can read in one statement
 * what a field of every item would otherwise fetch item by item (and answer those fields without a promise each).
 */
import {
  getDirectiveValues,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  type FieldNode,
  type FragmentSpreadNode,
  type GraphQLResolveInfo,
  type InlineFragmentNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * True when `path` (field names, e.g. ['edges', 'node', 'labels']) is selected below the current field, through
 * fragments and inline fragments, as @skip and @include leave it with the request's variables.
 */
export function selects(info: GraphQLResolveInfo, path: readonly string[]): boolean {
  return info.fieldNodes.some((node) => below(node.selectionSet, path, 0, info, new Set()));
}

function below(
  set: SelectionSetNode | undefined,
  path: readonly string[],
  depth: number,
  info: GraphQLResolveInfo,
  seen: Set<string>,
): boolean {
  if (!set) return false;
  for (const s of set.selections) {
    if (!included(s, info)) continue;
    if (s.kind === 'Field') {
      if ((s as FieldNode).name.value !== path[depth]) continue;
      if (depth === path.length - 1 || below(s.selectionSet, path, depth + 1, info, seen)) return true;
    } else if (s.kind === 'InlineFragment') {
      if (below(s.selectionSet, path, depth, info, seen)) return true;
    } else {
      // A fragment is walked once per lookup (validation already refused cycles; this only bounds the work).
      const name = s.name.value;
      if (seen.has(`${name}@${depth}`)) continue;
      seen.add(`${name}@${depth}`);
      if (below(info.fragments[name]?.selectionSet, path, depth, info, seen)) return true;
    }
  }
  return false;
}

/** Whether @skip and @include keep a selection (graphql-js's own rule, with the request's variables). */
function included(node: FieldNode | FragmentSpreadNode | InlineFragmentNode, info: GraphQLResolveInfo): boolean {
  if (!node.directives?.length) return true;
  if (getDirectiveValues(GraphQLSkipDirective, node, info.variableValues)?.if === true) return false;
  return getDirectiveValues(GraphQLIncludeDirective, node, info.variableValues)?.if !== false;
}
