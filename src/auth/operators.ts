import { ForbiddenError } from '../errors.ts';
import type { Identity } from './identity.ts';

/**
 * Refuses an API caller who may not pause or resume. A pause holds the jobs of every tenant, so
 * an organisation's admin is not enough: only admins of an operator organisation
 * (JOBDECK_OPERATOR_ORGS) may, and with no operator organisation configured nobody may through
 * the API (trusted callers still can: TypeScript, the CLI, SQL as jobdeck_system).
 *
 * @throws ForbiddenError saying what the caller lacks.
 */
export function requireOperator(
  identity: Identity | null,
  operatorOrgs: readonly string[],
): Identity {
  if (!identity) throw new ForbiddenError('sign in as an operator to pause or resume');
  if (operatorOrgs.length === 0)
    throw new ForbiddenError(
      'pausing through the API is off: set JOBDECK_OPERATOR_ORGS to the organisations whose admins may pause (or use the CLI or SQL)',
    );
  if (identity.role !== 'admin' || !operatorOrgs.includes(identity.orgId))
    throw new ForbiddenError(
      'pausing and resuming are for admins of an operator organisation (JOBDECK_OPERATOR_ORGS): a pause holds every tenant’s jobs',
    );
  return identity;
}

/** How an operator is recorded as the pause's author (`pauses()`'s `pausedBy`). */
export function operatorName(identity: Identity): string {
  return `${identity.userId}@${identity.orgId}`.slice(0, 200);
}
