import { Kind, getOperationAST, parse, type DocumentNode } from 'postgraphile/graphql';

/** More fragment definitions than this in one document are refused before validation. */
export const MAX_FRAGMENTS = 100;

/**
 * Why a document's fragments cannot be validated, or null. graphql-js's
 * OverlappingFieldsCanBeMerged rule recurses through fragment spreads and overflows the stack on
 * ~100 fragments that spread each other in a cycle, or a few thousand in a chain: a 500 for
 * anyone, signed in or not. Cycles are invalid anyway, and real documents use a few fragments.
 */
export function fragmentProblem(document: DocumentNode): string | null {
  const spreads = new Map<string, string[]>();
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.FRAGMENT_DEFINITION) continue;
    if (spreads.size >= MAX_FRAGMENTS)
      return `the document defines more than ${MAX_FRAGMENTS} fragments`;
    spreads.set(definition.name.value, spreadNames(definition.selectionSet));
  }
  // depth-first, without recursion: 1 = on the current path, 2 = done
  const state = new Map<string, 1 | 2>();
  for (const start of spreads.keys()) {
    if (state.has(start)) continue;
    const stack: { name: string; next: number }[] = [{ name: start, next: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const targets = spreads.get(top.name) ?? [];
      if (top.next >= targets.length) {
        state.set(top.name, 2);
        stack.pop();
        continue;
      }
      const target = targets[top.next++]!;
      if (state.get(target) === 1) return `fragment "${target}" spreads itself`;
      if (!state.has(target) && spreads.has(target)) {
        state.set(target, 1);
        stack.push({ name: target, next: 0 });
      }
    }
  }
  return null;
}

/** The fragments a selection set spreads, inline fragments and fields included. */
function spreadNames(selectionSet: {
  selections: readonly { kind: Kind; name?: { value: string }; selectionSet?: unknown }[];
}): string[] {
  const names: string[] = [];
  const pending = [selectionSet];
  while (pending.length > 0) {
    for (const selection of pending.pop()!.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) names.push(selection.name!.value);
      else if (selection.selectionSet) pending.push(selection.selectionSet as typeof selectionSet);
    }
  }
  return names;
}

/**
 * Why a request's document is refused before grafserv validates and runs it, or null:
 * - fragments graphql-js cannot validate safely ({@link fragmentProblem});
 * - a subscription over plain HTTP: grafserv would answer with a stream that never ends (nor
 *   ends when the client leaves), holding a LISTEN subscription and keeping the server from
 *   closing. Subscriptions are served over graphql-ws on the same path.
 *
 * Only documents that mention fragments or subscriptions are parsed here (grafserv parses again,
 * from its cache); syntax errors are left for grafserv to report.
 */
export function documentProblem(
  query: unknown,
  operationName: unknown,
  overHttp: boolean,
): { message: string; statusCode: number } | null {
  if (typeof query !== 'string' || !/fragment|subscription/.test(query)) return null;
  let document: DocumentNode;
  try {
    document = parse(query);
  } catch {
    return null;
  }
  const fragments = fragmentProblem(document);
  if (fragments) return { message: fragments, statusCode: 400 };
  if (overHttp) {
    const operation = getOperationAST(
      document,
      typeof operationName === 'string' ? operationName : undefined,
    );
    if (operation?.operation === 'subscription')
      return {
        message:
          'subscriptions are served over websockets (graphql-ws) at /graphql; HTTP POST takes queries and mutations',
        statusCode: 405,
      };
  }
  return null;
}
