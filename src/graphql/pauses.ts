import type { Kysely } from 'kysely';
import { constant, context, lambda, sideEffect } from 'postgraphile/grafast';
import { extendSchema, gql } from 'postgraphile/utils';
import type { Database } from '../db/types.ts';
import type { Identity } from '../auth/identity.ts';
import { operatorName, requireOperator } from '../auth/operators.ts';
import { listPausesOn, pauseOn, resumeOn, type PauseTarget } from '../jobs/pauses.ts';

export interface PausesPluginOptions {
  /** The owner's connection: a pause is global, so it is written past row-level security. */
  ownerDb: Kysely<Database>;
  /** Organisations whose admins may pause (JOBDECK_OPERATOR_ORGS). */
  operatorOrgs: readonly string[];
}

interface Args {
  getRaw(name: string): unknown;
}

/**
 * `pauses` and the mutations `pauseQueue`, `resumeQueue`, `pauseTaskType`, `resumeTaskType`,
 * `pauseAll`, `resumeAll`, for operators only (src/auth/operators.ts): a pause holds every
 * tenant's jobs, so an organisation's admin alone may not. They call the same TypeScript as the
 * client and REST (src/jobs/pauses.ts) on the owner's connection, after the operator check.
 */
export function makePausesPlugin(options: PausesPluginOptions): GraphileConfig.Plugin {
  const operator = (identity: Identity | null) => requireOperator(identity, options.operatorOrgs);
  const $identity = () => context().get('jobdeckIdentity');
  const pause = (targetOf: (args: Args) => unknown) => ({
    plan(_$root: unknown, args: Args) {
      return sideEffect(
        [$identity(), targetOf(args), args.getRaw('reason'), args.getRaw('cancelRunning')] as never,
        async ([identity, target, reason, cancelRunning]: [
          Identity | null,
          PauseTarget,
          string | null | undefined,
          boolean | null | undefined,
        ]) => {
          const caller = operator(identity);
          const result = await pauseOn(options.ownerDb, target, {
            reason: reason ?? null,
            cancelRunning: cancelRunning ?? false,
            by: operatorName(caller),
          });
          return { ...result, pausedAt: result.pausedAt.toISOString() };
        },
      );
    },
  });
  const resume = (targetOf: (args: Args) => unknown) => ({
    plan(_$root: unknown, args: Args) {
      return sideEffect(
        [$identity(), targetOf(args)] as never,
        async ([identity, target]: [Identity | null, PauseTarget]) => {
          operator(identity);
          return resumeOn(options.ownerDb, target);
        },
      );
    },
  });
  const queue = (args: Args) =>
    lambda(args.getRaw('queue') as never, (q: string) => ({ queue: q }));
  const type = (args: Args) => lambda(args.getRaw('type') as never, (t: string) => ({ type: t }));
  const all = () => constant('all');

  return extendSchema(() => ({
    typeDefs: gql`
      "A pause: no job of its queue, task type or of anything starts until it is resumed."
      type Pause {
        "queue, type or all."
        scope: String!
        "The queue or task type; null for everything."
        key: String
        reason: String
        pausedBy: String
        pausedAt: Datetime!
        "Waiting jobs this pause holds."
        held: Int!
      }

      "What a pause did."
      type PauseResult {
        scope: String!
        key: String
        reason: String
        pausedBy: String
        pausedAt: Datetime!
        "Waiting jobs held now."
        held: Int!
        "Running jobs asked to cancel (cancelRunning)."
        cancelled: Int!
      }

      "What a resume did."
      type ResumeResult {
        scope: String!
        key: String
        "Whether it was paused."
        resumed: Boolean!
        "Held jobs queued again."
        released: Int!
      }

      extend type Query {
        "What is paused now; operators only (admins of JOBDECK_OPERATOR_ORGS)."
        pauses: [Pause!]!
      }

      extend type Mutation {
        "Pause a queue on every worker; operators only."
        pauseQueue(queue: String!, reason: String, cancelRunning: Boolean): PauseResult!
        "Resume a queue; operators only."
        resumeQueue(queue: String!): ResumeResult!
        "Pause a task type on every worker; operators only."
        pauseTaskType(type: String!, reason: String, cancelRunning: Boolean): PauseResult!
        "Resume a task type; operators only."
        resumeTaskType(type: String!): ResumeResult!
        "Pause everything on every worker; operators only."
        pauseAll(reason: String, cancelRunning: Boolean): PauseResult!
        "Resume everything; operators only."
        resumeAll: ResumeResult!
      }
    `,
    objects: {
      Query: {
        plans: {
          pauses() {
            return lambda($identity(), async (identity: Identity | null) => {
              operator(identity);
              const pauses = await listPausesOn(options.ownerDb);
              return pauses.map((p) => ({ ...p, pausedAt: p.pausedAt.toISOString() }));
            });
          },
        },
      },
      Mutation: {
        plans: {
          pauseQueue: pause(queue),
          resumeQueue: resume(queue),
          pauseTaskType: pause(type),
          resumeTaskType: resume(type),
          pauseAll: pause(all),
          resumeAll: resume(all),
        },
      },
    },
  }));
}
