import { SqlChore } from './sql-chore.ts';

/** The release runs every this many heartbeats (10 s at the default heartbeat). */
export const HELD_RELEASE_EVERY = 10;

/**
 * Puts held jobs (held back by a concurrency cap: their organisation's, their task type's or their
 * queue's) back in the queue when the cap has room. A finish releases them as it frees a slot;
 * this is the safety net for a cap that was raised, or a finish that could not release them.
 */
export class HeldRelease extends SqlChore {
  readonly name = 'release of held jobs';
  protected readonly statement = 'select jobdeck_private.release_all_held()';
}
