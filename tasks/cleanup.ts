import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z, defineTask, loadConfig } from 'jobdeck';

/**
 * Cleans up old data (seed 004's `cleanup`): deletes the generated export files under
 * `<data dir>/exports` older than `olderThanDays` (the files behind `export_report`'s download
 * links; the jobs themselves are pruned by `prune_jobs`). `dryRun` lists what it would delete.
 */
export default defineTask({
  description: 'Delete generated export files older than a number of days (seed 004)',
  maxAttempts: 3,
  // Seed 004: at most 5 jobs of this type run at once per organisation, across all workers.
  // Change the number here, or remove the line for no per-type cap (docs/recipes.md).
  orgConcurrency: 5,
  payload: z.object({
    olderThanDays: z.number().min(0).max(3650).default(7),
    dryRun: z.boolean().default(false),
  }),
  async run({ payload, progress, log, signal }) {
    const dir = path.join(loadConfig().dataDir, 'exports');
    const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    const cutoff = Date.now() - payload.olderThanDays * 86_400_000;
    const deleted: string[] = [];
    let freedBytes = 0;
    for (const [index, name] of names.entries()) {
      signal.throwIfAborted();
      const file = path.join(dir, name);
      const info = await stat(file).catch(() => null);
      if (info?.isFile() && info.mtimeMs < cutoff) {
        if (!payload.dryRun) await rm(file, { force: true });
        deleted.push(name);
        freedBytes += info.size;
      }
      if (index % 100 === 99) await progress(Math.floor(((index + 1) / names.length) * 100));
    }
    await log('info', `${payload.dryRun ? 'would delete' : 'deleted'} ${deleted.length} files`);
    return {
      scanned: names.length,
      deleted: deleted.length,
      freedBytes,
      dryRun: payload.dryRun,
      files: deleted.slice(0, 100),
    };
  },
});
