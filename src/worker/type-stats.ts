import { SqlChore } from './sql-chore.ts';

/** The refresh runs every this many heartbeats (a minute at the default heartbeat). */
export const TYPE_STATS_EVERY = 60;

/**
 * Refreshes each task type's median run time (from its latest 200 successes), which gives a
 * running job its ETA before it reports progress.
 */
export class TypeStatsRefresh extends SqlChore {
  readonly name = 'type stats refresh';
  protected readonly statement = 'select jobdeck_private.refresh_type_stats()';
}
