import { SqlChore } from './sql-chore.ts';

/** The release runs every this many heartbeats (10 s at the default heartbeat). */
export const HELD_RELEASE_EVERY = 10;

/**
 * Puts held jobs (held back by their organisation's cap, JOBDECK_ORG_CONCURRENCY) back in the
 * queue when their organisation has room. A finish releases them as it frees a slot; this is the
 * safety net for a cap that was raised, or a finish that could not release them.
 */
export class HeldRelease extends SqlChore {
  readonly name = 'release of held jobs';
  protected readonly statement = 'select jobdeck_private.release_all_held()';
}
