import { context, lambda, listen } from 'postgraphile/grafast';
import { extendSchema, gql } from 'postgraphile/utils';
import type { Identity } from '../auth/identity.ts';
import type { BatchChangeHub, BatchChangeTopic } from '../live/batch-changes.ts';
import { normalizeUuid } from '../live/job-changes.ts';
import { changePlans, checkMaySubscribe } from './subscriptions.ts';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Grafast's context is a global namespace
  namespace Grafast {
    interface Context {
      /** Where batch subscriptions get changes from. */
      jobdeckBatchChanges: BatchChangeHub;
    }
  }
}

/** The topic of `batchUpdated(id)`, from the verified identity only. */
export function batchTopicFor(identity: Identity | null, batchId: string): string {
  checkMaySubscribe(identity);
  const topic: BatchChangeTopic = {
    batchId: normalizeUuid(batchId),
    orgId: identity.orgId,
    ...(identity.role === 'admin' ? {} : { ownerId: identity.userId }),
    expiresAt: identity.expiresAt.getTime(),
  };
  return JSON.stringify(topic);
}

/**
 * `batchUpdated(id)`: a batch's counts, pushed as its jobs finish. The hub passes a change on
 * only for the subscriber's own batch (their organisation's, for admins); `batch` re-reads the row
 * with the subscriber's rights. Subscribe first, then query `batch(id)`.
 */
export const BatchSubscriptionsPlugin = extendSchema((build) => {
  const batches = build.input.pgRegistry.pgResources['batches'];
  if (!batches) throw new Error('the jobdeck.batches table is missing from the GraphQL schema');
  return {
    typeDefs: gql`
      "A change to a batch's counts, pushed as it is committed."
      type BatchChange {
        "CHANGED, RECONNECTED (changes may have been missed: re-query) or EXPIRED (token expired)."
        kind: JobChangeKind!
        id: UUID!
        "Jobs finished (succeeded, failed or cancelled) when the change was read."
        finished: Int
        total: Int
        "The batch as it is now, read with your permissions."
        batch: Batch
      }

      extend type Subscription {
        "Changes of one batch you may see (enqueueBatch). Subscribe first, then query the batch."
        batchUpdated(id: UUID!): BatchChange!
      }
    `,
    objects: {
      Subscription: {
        plans: {
          batchUpdated: {
            subscribePlan(_$root: unknown, args: { getRaw(name: string): unknown }) {
              const $topic = lambda(
                [context().get('jobdeckIdentity'), args.getRaw('id') as never],
                ([identity, id]: readonly [Identity | null, unknown]) =>
                  batchTopicFor(identity, String(id)),
              );
              return listen(context().get('jobdeckBatchChanges'), $topic as never);
            },
            plan($event: unknown) {
              return $event;
            },
          },
        },
      },
      BatchChange: { plans: changePlans(batches, ['finished', 'total'], 'batch') },
    },
  };
});
