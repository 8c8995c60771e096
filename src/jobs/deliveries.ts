import type { JobHelpers } from 'graphile-worker';
import { PermanentJobError } from '../errors.ts';
import type { JobAttemptError } from '../db/types.ts';

/** The finished job a delivery (`deliver_webhook`, `deliver_email`) reports on. */
export interface DeliverySubject {
  id: string;
  type: string;
  status: string;
  progress: number | null;
  result: unknown;
  errors: JobAttemptError[];
  attempts: number;
  owner_id: string | null;
  org_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

/**
 * Reads the job a delivery reports on, as it is now (a delivery runs after the finish commits).
 *
 * @throws PermanentJobError when the job is gone (pruned or deleted): no retry brings it back.
 */
export async function readDeliverySubject(
  helpers: Pick<JobHelpers, 'query'>,
  jobId: string,
): Promise<DeliverySubject> {
  const { rows } = await helpers.query<DeliverySubject>(
    `select id, type, status, progress, result, errors, attempts, owner_id, org_id,
            created_at, started_at, finished_at
       from jobdeck.jobs where id = $1`,
    [jobId],
  );
  const subject = rows[0];
  if (!subject) throw new PermanentJobError(`job ${jobId} no longer exists`);
  return subject;
}
