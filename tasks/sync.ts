import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z, defineTask, loadConfig, PermanentJobError } from 'jobdeck';

type Row = Record<string, unknown> & { id: string | number };

/**
 * Synchronises data with an external system (seed 004's `sync`): reconciles the records an
 * external system sent (`records`, each with an `id`) with the copy kept from the last sync of the
 * same `source` (under `<data dir>/sync/`), reports what was added, changed and removed, and keeps
 * the new copy (written to a temporary file, then renamed, so a crash never leaves half a copy).
 */
export default defineTask({
  description: 'Reconcile an external system’s records with the last synced copy (seed 004)',
  category: 'import',
  maxAttempts: 3,
  // Seed 004: at most 5 jobs of this type run at once per organisation, across all workers.
  // Change the number here, or remove the line for no per-type cap (docs/recipes.md).
  orgConcurrency: 5,
  payload: z.object({
    source: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,100}$/, 'source must be 1-100 letters, digits, _ or -'),
    records: z.array(z.looseObject({ id: z.union([z.string().min(1), z.number()]) })).max(100_000),
  }),
  async run({ payload, progress, log }) {
    const dir = path.join(loadConfig().dataDir, 'sync');
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `${payload.source}.json`);
    const previous: Row[] = await readFile(file, 'utf8').then(
      (text) => JSON.parse(text) as Row[],
      () => [],
    );
    await progress(30, 'compare');
    const before = new Map(previous.map((row) => [String(row.id), JSON.stringify(row)]));
    const now = new Map<string, string>();
    for (const row of payload.records as Row[]) {
      const id = String(row.id);
      if (now.has(id)) throw new PermanentJobError(`records has id ${id} twice`);
      now.set(id, JSON.stringify(row));
    }
    const added = [...now.keys()].filter((id) => !before.has(id));
    const removed = [...before.keys()].filter((id) => !now.has(id));
    const changed = [...now.keys()].filter(
      (id) => before.has(id) && before.get(id) !== now.get(id),
    );
    await progress(70, 'store');
    await writeFile(`${file}.tmp`, JSON.stringify(payload.records));
    await rename(`${file}.tmp`, file);
    await log(
      'info',
      `${payload.source}: ${added.length} added, ${changed.length} changed, ${removed.length} removed`,
    );
    return {
      source: payload.source,
      total: now.size,
      added: added.length,
      changed: changed.length,
      removed: removed.length,
      unchanged: now.size - added.length - changed.length,
    };
  },
});
