import type pg from 'pg';
import { countUnfinished } from './queries.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Keeps the count of unfinished soak jobs fresh (every 250 ms) for the bulk enqueue's backlog
 * bound, and notices when it has not moved for `stallMs` (every worker stuck: waiting on the
 * backlog would be pointless).
 */
export function watchBacklog(pool: pg.Pool, stallMs: number) {
  const state = { unfinished: 0, movedAt: Date.now(), running: true };
  const loop = (async () => {
    while (state.running) {
      const now = await countUnfinished(pool).catch(() => state.unfinished);
      if (now !== state.unfinished) state.movedAt = Date.now();
      state.unfinished = now;
      await sleep(250);
    }
  })();
  return {
    state,
    stalled: () => state.unfinished > 0 && Date.now() - state.movedAt > stallMs,
    async stop() {
      state.running = false;
      await loop;
    },
  };
}

/**
 * Waits until no soak job is unfinished, `deadline` passes, or nothing has moved for `stallMs`.
 * Returns `stallMs` when it gave up for want of progress, else null.
 */
export async function drain(
  pool: pg.Pool,
  options: {
    deadline: number;
    stallMs: number;
    stopped: () => boolean;
    say: (line: string) => void;
  },
): Promise<number | null> {
  let quiet = 0;
  let last = { left: -1, since: Date.now() };
  while (Date.now() < options.deadline && !options.stopped()) {
    const left = await countUnfinished(pool).catch(() => -1);
    quiet = left === 0 ? quiet + 1 : 0;
    if (quiet >= 2) return null;
    if (left !== last.left) last = { left, since: Date.now() };
    else if (Date.now() - last.since > options.stallMs) {
      options.say(
        `no job has finished for ${options.stallMs / 1000} s (${left} unfinished): giving up`,
      );
      return options.stallMs;
    }
    await sleep(250);
  }
  return null;
}
