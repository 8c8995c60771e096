import { SafeError, access, context, lambda, listen, type Step } from 'postgraphile/grafast';
import { extendSchema, gql } from 'postgraphile/utils';
import type { Identity } from '../auth/identity.ts';
import { JobChangeHub, normalizeUuid, type JobChangeTopic } from '../live/job-changes.ts';

declare global {
  // Grafast's context type is a global namespace; augmenting it is the documented way.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Grafast {
    interface Context {
      /** The verified caller; null for anonymous requests. */
      jobdeckIdentity: Identity | null;
      /** Where subscriptions get job changes from. */
      jobdeckChanges: JobChangeHub;
    }
  }
}

type Scope = 'job' | 'mine' | 'org';

const FORBIDDEN = { code: 'FORBIDDEN' };

/** Throws a FORBIDDEN GraphQL error unless `identity` is signed in and may view jobs. */
export function checkMaySubscribe(identity: Identity | null): asserts identity is Identity {
  if (!identity) throw new SafeError('sign in first: subscriptions need a bearer token', FORBIDDEN);
  if (identity.permissions && !identity.permissions.includes('jobs.view_jobs'))
    throw new SafeError('permission denied: your token lacks jobs.view_jobs', FORBIDDEN);
}

/**
 * The plans of a change type (JobChange, BatchChange): `kind` upper-cased, `id` and each of
 * `fields` as the event has them, and `row` (`job`, `batch`) re-read from `resource` by id with
 * the subscriber's rights.
 */
export function changePlans(
  resource: { get(spec: { id: Step }): Step },
  fields: readonly string[],
  row: string,
): Record<string, ($event: Step) => Step> {
  return {
    kind: ($event) => lambda(access($event, 'kind'), (kind) => String(kind).toUpperCase()),
    ...Object.fromEntries(
      ['id', ...fields].map((field) => [field, ($event: Step) => access($event, field)]),
    ),
    [row]: ($event) => resource.get({ id: access($event, 'id') }),
  };
}

/**
 * The topic for a subscription, derived only from the verified identity: a user listens on their
 * own channel (filtered to their organisation), an admin on their organisation's.
 */
export function topicFor(identity: Identity | null, scope: Scope, jobId?: string): string {
  checkMaySubscribe(identity);
  if (scope === 'org' && identity.role !== 'admin')
    throw new SafeError('orgJobsChanged is for organisation admins (role "admin")', FORBIDDEN);
  const topic: JobChangeTopic =
    scope === 'org' || (scope === 'job' && identity.role === 'admin')
      ? { kind: 'org', orgId: identity.orgId }
      : { kind: 'owner', orgId: identity.orgId, ownerId: identity.userId };
  if (jobId) topic.jobId = normalizeUuid(jobId);
  topic.expiresAt = identity.expiresAt.getTime();
  return JobChangeHub.topic(topic);
}

/**
 * Live job changes over graphql-ws, fed by LISTEN/NOTIFY. A notification only names the job (and
 * is only a hint: anyone who learned a channel's name could send one); the hub re-reads the row
 * and passes the change on only to subscribers whose identity the row matches, with the row's
 * status and progress. `job` re-reads the row with the subscriber's rights (row-level security),
 * so it also gives the step, ETA and everything else. Subscribe first, then query the current
 * state: an event that arrives in between only repeats what the query shows.
 */
export const JobSubscriptionsPlugin = extendSchema((build) => {
  const jobs = build.input.pgRegistry.pgResources['jobs'];
  if (!jobs) throw new Error('the jobdeck.jobs table is missing from the GraphQL schema');
  const subscription = (scope: Scope) => ({
    subscribePlan(_$root: unknown, args: { getRaw(name: string): unknown }) {
      const $identity = context().get('jobdeckIdentity');
      const $topic =
        scope === 'job'
          ? lambda(
              [$identity, args.getRaw('id') as never],
              ([identity, id]: readonly [Identity | null, unknown]) =>
                topicFor(identity, scope, String(id)),
            )
          : lambda($identity, (identity: Identity | null) => topicFor(identity, scope));
      return listen(context().get('jobdeckChanges'), $topic as never);
    },
    plan($event: unknown) {
      return $event;
    },
  });
  return {
    typeDefs: gql`
      """
      What happened: CHANGED (status, progress, step or attempt changed); RECONNECTED (changes
      may have been missed: the server's database listener reconnected or you fell far behind;
      re-query); EXPIRED (your token expired: the subscription ends; subscribe again with a new one).
      """
      enum JobChangeKind {
        CHANGED
        RECONNECTED
        EXPIRED
      }

      "A change to a job, pushed as it is committed."
      type JobChange {
        kind: JobChangeKind!
        "The job that changed (for RECONNECTED: the job subscribed to, if any)."
        id: UUID
        "The job's status, read from its row after the change (never taken from the notification)."
        status: String
        "The job's progress, read from its row after the change (never taken from the notification)."
        progress: Int
        "The job as it is now, read with your permissions: step, ETA, attempts and the rest."
        job: Job
      }

      extend type Subscription {
        "Changes of one job you may see. Subscribe first, then query the job."
        jobUpdated(id: UUID!): JobChange!
        "Changes of every job you own (in your organisation)."
        myJobsChanged: JobChange!
        "Changes of every job of your organisation; admins only."
        orgJobsChanged: JobChange!
      }
    `,
    objects: {
      Subscription: {
        plans: {
          jobUpdated: subscription('job'),
          myJobsChanged: subscription('mine'),
          orgJobsChanged: subscription('org'),
        },
      },
      JobChange: { plans: changePlans(jobs, ['status', 'progress'], 'job') },
    },
  };
});
