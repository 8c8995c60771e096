import { SafeError } from 'postgraphile/grafast';
import { documentProblem } from './documents.ts';
import {
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  type ASTVisitor,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'postgraphile/graphql';

export interface QueryLimits {
  maxDepth: number;
  maxFields: number;
}

/** What {@link makeQueryLimitsPlugin} refuses. */
export interface QueryRules extends QueryLimits {
  /** False: refuse introspection (`__schema`, `__type`) with a validation error. */
  introspection: boolean;
}

/**
 * Introspection (`__schema`, `__type`) is measured against these bounds instead of the operation's:
 * the standard introspection query (graphql-js `getIntrospectionQuery()`, what GraphiQL, codegen
 * and IDE plugins send) nests 15 levels and selects a few hundred fields, and it reads only the
 * schema, never a row. The bounds still stop an endless `ofType { ofType { … } }`.
 */
export const INTROSPECTION_LIMITS: QueryLimits = { maxDepth: 20, maxFields: 2000 };

/** Deepest nesting of brackets in a document, or of arrays/objects in variables, accepted. */
export const MAX_VALUE_NESTING = 64;

/** Deepest `{ [ (` nesting of a GraphQL document, outside string literals. */
export function documentNesting(query: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < query.length; i++) {
    const c = query[i];
    if (c === '"') {
      const block = query.startsWith('"""', i);
      const close = block ? query.indexOf('"""', i + 3) : nextQuote(query, i + 1);
      if (close === -1) break;
      i = block ? close + 2 : close;
    } else if (c === '#') {
      const end = query.indexOf('\n', i);
      if (end === -1) break;
      i = end;
    } else if (c === '{' || c === '[' || c === '(') {
      depth += 1;
      if (depth > deepest) deepest = depth;
    } else if (c === '}' || c === ']' || c === ')') {
      depth -= 1;
    }
  }
  return deepest;
}

function nextQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === '"') return i;
  }
  return -1;
}

/** Deepest array/object nesting of a JSON value, without recursion. */
export function valueNesting(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest > MAX_VALUE_NESTING) return deepest;
    for (const child of Array.isArray(item) ? item : Object.values(item))
      stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * A validation rule that refuses operations nested deeper than `maxDepth` or selecting more than
 * `maxFields` fields (fragments expanded, so a fragment used ten times counts ten times). Cheap
 * protection against queries built to exhaust the server.
 */
export function queryLimitsRule(limits: QueryLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(node) {
      const name = node.name ? `operation "${node.name.value}"` : 'the operation';
      const operation = { fields: 0, deepest: 0 };
      const introspection = { fields: 0, deepest: 0 };
      measure(context, node.selectionSet, 0, { operation, introspection }, new Set());
      report(context, node, `${name}`, operation, limits);
      report(context, node, `the introspection in ${name}`, introspection, INTROSPECTION_LIMITS);
    },
  });
}

/** What one walk found: fields selected (fragments expanded) and the deepest nesting. */
interface Tally {
  fields: number;
  deepest: number;
}

function report(
  context: ValidationContext,
  node: OperationDefinitionNode,
  what: string,
  tally: Tally,
  limits: QueryLimits,
): void {
  if (tally.deepest > limits.maxDepth)
    context.reportError(
      new GraphQLError(
        `${what} is nested ${tally.deepest} levels deep; the limit is ${limits.maxDepth}`,
        {
          nodes: [node],
        },
      ),
    );
  if (tally.fields > limits.maxFields)
    context.reportError(
      new GraphQLError(
        `${what} selects ${tally.fields} fields (fragments expanded); the limit is ${limits.maxFields}`,
        { nodes: [node] },
      ),
    );
}

/** `__schema { … }` and `__type(…) { … }`; `__typename` is an ordinary leaf. */
function isIntrospection(field: FieldNode): boolean {
  return field.name.value === '__schema' || field.name.value === '__type';
}

function measure(
  context: ValidationContext,
  selectionSet: SelectionSetNode,
  depth: number,
  tallies: { operation: Tally; introspection: Tally; current?: Tally },
  visiting: Set<string>,
): void {
  const tally = tallies.current ?? tallies.operation;
  for (const selection of selectionSet.selections) {
    // Far past any limit already: stop walking (and counting) early.
    if (tally.fields > 1_000_000) return;
    if (selection.kind === Kind.FIELD) {
      // An introspection field starts its own count, from its own depth of 1.
      const own = !tallies.current && isIntrospection(selection);
      const into = own ? tallies.introspection : tally;
      const level = own ? 0 : depth;
      into.fields += 1;
      into.deepest = Math.max(into.deepest, level + 1);
      if (selection.selectionSet)
        measure(
          context,
          selection.selectionSet,
          level + 1,
          { ...tallies, current: into },
          visiting,
        );
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      measure(context, selection.selectionSet, depth, tallies, visiting);
    } else {
      const name = selection.name.value;
      // Fragment cycles are reported by GraphQL's own rules; don't loop on them.
      if (visiting.has(name)) continue;
      const fragment: FragmentDefinitionNode | null | undefined = context.getFragment(name);
      if (!fragment) continue;
      visiting.add(name);
      measure(context, fragment.selectionSet, depth, tallies, visiting);
      visiting.delete(name);
    }
  }
}

/** Adds {@link queryLimitsRule} to grafserv's validation (HTTP and websockets alike). */
export function makeQueryLimitsPlugin(limits: QueryRules): GraphileConfig.Plugin {
  return {
    name: 'JobdeckQueryLimitsPlugin',
    description: 'Refuses GraphQL operations that are too deep or select too many fields',
    version: '0.1.0',
    grafserv: {
      middleware: {
        setPreset(next, event) {
          event.validationRules.push(queryLimitsRule(limits));
          if (!limits.introspection) event.validationRules.push(NoSchemaIntrospectionCustomRule);
          return next();
        },
        // Before parsing: values nested thousands deep would exhaust the stack further on; then
        // documents graphql-js cannot validate safely, and subscriptions sent over plain HTTP.
        processGraphQLRequestBody(next, event) {
          const { query, variableValues } = event.body;
          if (typeof query === 'string' && documentNesting(query) > MAX_VALUE_NESTING)
            throw new SafeError(`the document nests brackets more than ${MAX_VALUE_NESTING} deep`, {
              statusCode: 400,
            });
          if (valueNesting(variableValues) > MAX_VALUE_NESTING)
            throw new SafeError(
              `the variables nest objects or arrays more than ${MAX_VALUE_NESTING} deep`,
              { statusCode: 400 },
            );
          const problem = documentProblem(query, event.body.operationName, !!event.request);
          if (problem) throw new SafeError(problem.message, { statusCode: problem.statusCode });
          return next();
        },
      },
    },
  };
}
