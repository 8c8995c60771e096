import { InvalidArgumentError } from '../errors.ts';
import { checkQueueName, checkWholeOrNull, setting } from './limits.ts';

/** How a queue's jobs are ordered: fair turns by organisation, or first-in first-out. */
export type Fairness = 'org' | 'off';

/** Largest organisation weight accepted (`jobdeck.set_org_weight`). */
export const MAX_ORG_WEIGHT = 10;

/**
 * `setQueueFairnessOn(executor, queue, fairness)` sets whether new jobs of a queue take turns by
 * organisation (`'org'`) or run first-in first-out (`'off'`); `null` removes the queue's setting,
 * so the task type's (`defineTask({ fairness })`) or the default (`'org'`) applies. Stored in the
 * database (`jobdeck.set_queue_fairness`), so it holds across processes and restarts; jobs already
 * waiting keep the turn they were given. Returns the setting now in force for the queue.
 *
 * @throws InvalidArgumentError naming what is wrong with the queue or the setting.
 */
export const setQueueFairnessOn = setting<
  [queue: string, fairness: Fairness | null],
  Fairness | null
>('jobdeck.set_queue_fairness($1, $2)', (queue, fairness) => {
  checkQueueName(queue);
  if (fairness !== null && fairness !== 'org' && fairness !== 'off')
    throw new InvalidArgumentError(
      `fairness for queue "${queue}" must be 'org', 'off' or null to remove the setting; got ${JSON.stringify(fairness) ?? String(fairness)}`,
    );
  return [queue, fairness];
});

/**
 * `setOrgWeightOn(executor, orgId, weight)`: weighted fair turns. An organisation of weight `w`
 * (1 to 10) gets `w` turns for each turn of an organisation of weight 1; `null` removes its
 * weight (back to 1). Applies to jobs enqueued from now on. Returns the weight now in force.
 *
 * @throws InvalidArgumentError naming what is wrong with the organisation or the weight.
 */
export const setOrgWeightOn = setting<[orgId: string, weight: number | null], number>(
  'jobdeck.set_org_weight($1, $2)',
  (orgId, weight) => {
    if (typeof orgId !== 'string' || orgId.length < 1 || orgId.length > 256)
      throw new InvalidArgumentError(
        `orgId must be an organisation id of 1 to 256 characters, got ${JSON.stringify(orgId) ?? String(orgId)}`,
      );
    return [orgId, checkWholeOrNull(weight, MAX_ORG_WEIGHT, `weight for organisation "${orgId}"`)];
  },
);
