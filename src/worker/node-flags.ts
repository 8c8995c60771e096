/**
 * The Node.js flags jobdeck's own commands run with (package.json scripts, bin/jobdeck.js, the
 * bench's worker processes; a unit test keeps them in step).
 *
 * `--max-semi-space-size=8` caps V8's young generation at 8 MB semi-spaces. On a machine with
 * many GiB, V8 sizes them from the heap limit and lets short-lived garbage (every job's rows,
 * promises and batches) build up to about 100 MB before a scavenge: a worker at concurrency 50
 * peaked at 260–300 MB. With the cap it peaks under 200 MB at the same speed (docs/performance.md).
 * An application that runs `startWorker` in its own process can pass the same flag, e.g.
 * `NODE_OPTIONS=--max-semi-space-size=8`.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
