import type { Executor } from '../db/executor.ts';
import { InvalidArgumentError } from '../errors.ts';
import { callSql } from './db-errors.ts';
import { checkQueueName } from './limits.ts';

/** How a queue's jobs are ordered: fair turns by organisation, or first-in first-out. */
export type Fairness = 'org' | 'off';

/** Largest organisation weight accepted (`jobdeck.set_org_weight`). */
export const MAX_ORG_WEIGHT = 10;

/**
 * Sets whether new jobs of a queue take turns by organisation (`'org'`) or run first-in first-out
 * (`'off'`); `null` removes the queue's setting, so the task type's (`defineTask({ fairness })`)
 * or the default (`'org'`) applies. Stored in the database (`jobdeck.set_queue_fairness`), so it
 * holds across processes and restarts; jobs already waiting keep the turn they were given.
 * Returns the setting now in force for the queue.
 *
 * @throws InvalidArgumentError naming what is wrong with the queue or the setting.
 */
export async function setQueueFairnessOn(
  executor: Executor,
  queue: string,
  fairness: Fairness | null,
): Promise<Fairness | null> {
  checkQueueName(queue);
  if (fairness !== null && fairness !== 'org' && fairness !== 'off')
    throw new InvalidArgumentError(
      `fairness for queue "${queue}" must be 'org', 'off' or null to remove the setting; got ${JSON.stringify(fairness) ?? String(fairness)}`,
    );
  const rows = await callSql<{ fairness: Fairness | null }>(
    executor,
    'select jobdeck.set_queue_fairness($1, $2) as fairness',
    [queue, fairness],
  );
  return rows[0]?.fairness ?? null;
}

/**
 * Weighted fair turns: an organisation of weight `w` (1 to 10) gets `w` turns for each turn of an
 * organisation of weight 1; `null` removes its weight (back to 1). Applies to jobs enqueued from
 * now on. Returns the weight now in force.
 *
 * @throws InvalidArgumentError naming what is wrong with the organisation or the weight.
 */
export async function setOrgWeightOn(
  executor: Executor,
  orgId: string,
  weight: number | null,
): Promise<number> {
  if (typeof orgId !== 'string' || orgId.length < 1 || orgId.length > 256)
    throw new InvalidArgumentError(
      `orgId must be an organisation id of 1 to 256 characters, got ${JSON.stringify(orgId) ?? String(orgId)}`,
    );
  if (
    weight !== null &&
    (typeof weight !== 'number' ||
      !Number.isInteger(weight) ||
      weight < 1 ||
      weight > MAX_ORG_WEIGHT)
  )
    throw new InvalidArgumentError(
      `weight for organisation "${orgId}" must be a whole number from 1 to ${MAX_ORG_WEIGHT}, or null to remove it; got ${String(weight)}`,
    );
  const rows = await callSql<{ weight: number }>(
    executor,
    'select jobdeck.set_org_weight($1, $2) as weight',
    [orgId, weight],
  );
  return rows[0]?.weight ?? 1;
}
