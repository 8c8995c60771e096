import { z, defineTask } from 'jobdeck';

/**
 * Processes a dataset (seed 004's `data_processing`): generates `rows` deterministic measurements
 * from `seed` (standing in for a large dataset read in chunks) and computes count, sum, mean,
 * minimum, maximum and standard deviation in one pass (Welford's method), reporting progress per
 * chunk. Cancelling stops it between chunks.
 */
export default defineTask({
  description: 'Compute statistics over a large dataset, chunk by chunk (seed 004)',
  maxAttempts: 3,
  // Seed 004: at most 5 jobs of this type run at once per organisation, across all workers.
  // Change the number here, or remove the line for no per-type cap (docs/recipes.md).
  orgConcurrency: 5,
  payload: z.object({
    dataset: z.string().min(1).max(200),
    rows: z.number().int().min(1).max(10_000_000).default(100_000),
    chunkSize: z.number().int().min(100).max(1_000_000).default(10_000),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(1),
  }),
  async run({ payload, progress, log, signal }) {
    const { rows, chunkSize } = payload;
    const chunks = Math.ceil(rows / chunkSize);
    let state = payload.seed || 1;
    // xorshift32: the same dataset for the same seed, on every machine.
    const next = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 0xffffffff;
    };
    let count = 0;
    let mean = 0;
    let m2 = 0;
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let chunk = 0; chunk < chunks; chunk++) {
      signal.throwIfAborted();
      const end = Math.min(rows, (chunk + 1) * chunkSize);
      for (; count < end;) {
        const value = Math.round(next() * 100_000) / 100;
        count += 1;
        sum += value;
        const delta = value - mean;
        mean += delta / count;
        m2 += delta * (value - mean);
        if (value < min) min = value;
        if (value > max) max = value;
      }
      await progress({ completed: chunk + 1, total: chunks }, `chunk ${chunk + 1} of ${chunks}`);
      // Let other jobs and the worker's own I/O run between chunks.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await log('info', `processed ${count} rows of ${payload.dataset}`);
    const round = (n: number) => Math.round(n * 100) / 100;
    return {
      dataset: payload.dataset,
      rows: count,
      sum: round(sum),
      mean: round(mean),
      min,
      max,
      stddev: round(Math.sqrt(count > 1 ? m2 / (count - 1) : 0)),
    };
  },
});
