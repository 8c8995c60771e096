import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'postgraphile/graphql';

export interface QueryLimits {
  maxDepth: number;
  maxFields: number;
}

/**
 * A validation rule that refuses operations nested deeper than `maxDepth` or selecting more than
 * `maxFields` fields (fragments expanded, so a fragment used ten times counts ten times). Cheap
 * protection against queries built to exhaust the server.
 */
export function queryLimitsRule(limits: QueryLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(node) {
      const counter = { fields: 0 };
      const depth = measure(context, node.selectionSet, 0, counter, new Set());
      const name = node.name ? `operation "${node.name.value}"` : 'the operation';
      if (depth > limits.maxDepth)
        context.reportError(
          new GraphQLError(
            `${name} is nested ${depth} levels deep; the limit is ${limits.maxDepth}`,
            { nodes: [node] },
          ),
        );
      if (counter.fields > limits.maxFields)
        context.reportError(
          new GraphQLError(
            `${name} selects ${counter.fields} fields (fragments expanded); the limit is ${limits.maxFields}`,
            { nodes: [node] },
          ),
        );
    },
  });
}

function measure(
  context: ValidationContext,
  selectionSet: SelectionSetNode,
  depth: number,
  counter: { fields: number },
  visiting: Set<string>,
): number {
  let deepest = depth;
  for (const selection of selectionSet.selections) {
    // Far past any limit already: stop walking (and counting) early.
    if (counter.fields > 1_000_000) return deepest;
    if (selection.kind === Kind.FIELD) {
      counter.fields += 1;
      const below = selection.selectionSet
        ? measure(context, selection.selectionSet, depth + 1, counter, visiting)
        : depth + 1;
      deepest = Math.max(deepest, below);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      deepest = Math.max(
        deepest,
        measure(context, selection.selectionSet, depth, counter, visiting),
      );
    } else {
      const name = selection.name.value;
      // Fragment cycles are reported by GraphQL's own rules; don't loop on them.
      if (visiting.has(name)) continue;
      const fragment: FragmentDefinitionNode | null | undefined = context.getFragment(name);
      if (!fragment) continue;
      visiting.add(name);
      deepest = Math.max(
        deepest,
        measure(context, fragment.selectionSet, depth, counter, visiting),
      );
      visiting.delete(name);
    }
  }
  return deepest;
}

/** Adds {@link queryLimitsRule} to grafserv's validation (HTTP and websockets alike). */
export function makeQueryLimitsPlugin(limits: QueryLimits): GraphileConfig.Plugin {
  return {
    name: 'JobdeckQueryLimitsPlugin',
    description: 'Refuses GraphQL operations that are too deep or select too many fields',
    version: '0.1.0',
    grafserv: {
      middleware: {
        setPreset(next, event) {
          event.validationRules.push(queryLimitsRule(limits));
          return next();
        },
      },
    },
  };
}
