/**
 * Introspection by role (issue 15). Outside production the schema is open to every caller (INTROSPECTION_ROLES does
 * not matter); in production only callers whose token's `roles` claim holds one of INTROSPECTION_ROLES (staff: the
 * explorer, codegen against the live gateway) may read it. `__typename` is always allowed.
 *
 * Apollo's own `introspection: false` is one switch for everyone, so Apollo is told to allow introspection and this
 * plugin decides per request, once the operation is resolved (GET and POST, text, APQ and manifest documents alike):
 * it walks the operation that would run and every fragment it spreads, and refuses one that selects `__schema` or
 * `__type` with 403 FORBIDDEN (`reason: introspection_forbidden`). A refused document is not stored as a persisted
 * query either (Apollo stores a registration only after this hook passes).
 */
import type { ApolloServerPlugin } from '@apollo/server';
import {
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { AppError, ErrorCode } from '../errors';
import type { GatewayContext } from '../context';

const INTROSPECTION_FIELDS = new Set(['__schema', '__type']);

/** True when `operation` (with the fragments it spreads, however deep) selects `__schema` or `__type`. */
export function readsSchema(document: DocumentNode, operation: OperationDefinitionNode): boolean {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const spread = new Set<string>();
  const stack: SelectionSetNode[] = [operation.selectionSet];
  while (stack.length) {
    for (const s of stack.pop()!.selections) {
      if (s.kind === Kind.FIELD) {
        if (INTROSPECTION_FIELDS.has(s.name.value)) return true;
        if (s.selectionSet) stack.push(s.selectionSet);
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        stack.push(s.selectionSet);
      } else if (!spread.has(s.name.value)) {
        spread.add(s.name.value);
        const f = fragments.get(s.name.value);
        if (f) stack.push(f.selectionSet);
      }
    }
  }
  return false;
}

function introspectionForbidden(): AppError {
  return new AppError(
    ErrorCode.FORBIDDEN,
    "Introspection is off in production: only callers whose token carries one of the roles named in the gateway's INTROSPECTION_ROLES may read the schema",
    { reason: 'introspection_forbidden', http: { status: 403 } },
  );
}

export function introspectionByRole(settings: {
  forAll: boolean;
  roles: readonly string[];
}): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      if (settings.forAll) return;
      return {
        async didResolveOperation({ document, operation, contextValue }) {
          if (!operation || !readsSchema(document, operation)) return;
          if (contextValue.roles.some((r) => settings.roles.includes(r))) return;
          throw introspectionForbidden();
        },
      };
    },
  };
}
