import { createHash } from 'node:crypto';
import { z, defineTask, PermanentJobError, sleep } from 'jobdeck';

/**
 * Imports a CSV file (seed 000): parse, validate, transform and store, reporting the seed's
 * steps at 10/20/40/70/90/100 %. Without `content`, a deterministic sample of `rows` rows is
 * generated from the file name, so the task can be tried without a file at hand.
 */
export default defineTask({
  category: 'import',
  description: 'Import a CSV file: parse, validate, transform, store (progress 10/20/40/70/90/100)',
  maxAttempts: 3,
  payload: z.object({
    filename: z.string().min(1).max(255),
    content: z
      .string()
      .max(512 * 1024)
      .optional(),
    rows: z.number().int().min(1).max(100_000).optional(),
    /** Pause between steps, so people can watch the bar move (0 in tests and benchmarks). */
    stepDelayMs: z.number().int().min(0).max(60_000).optional(),
  }),
  async run({ payload, progress, log, signal }) {
    const pause = () => sleep(payload.stepDelayMs ?? 400, signal);

    await progress(10, 'receive');
    const text = payload.content ?? sampleCsv(payload.filename, payload.rows ?? 2000);
    await log('info', `received ${payload.filename} (${Buffer.byteLength(text)} bytes)`);
    await pause();

    await progress(20, 'parse');
    const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
    const header = lines
      .shift()
      ?.split(',')
      .map((h) => h.trim());
    if (!header || header.length === 0 || header.some((h) => h === '')) {
      throw new PermanentJobError(`${payload.filename}: the first line must be a CSV header`);
    }
    const records = lines.map((line) => line.split(','));
    await pause();

    await progress(40, 'validate');
    const invalid: number[] = [];
    const valid = records.filter((cells, index) => {
      const ok = cells.length === header.length && cells.every((cell) => cell.trim() !== '');
      if (!ok) invalid.push(index + 2);
      return ok;
    });
    if (invalid.length > 0) {
      await log('warn', `${invalid.length} invalid rows skipped`, { lines: invalid.slice(0, 20) });
    }
    await pause();

    await progress(70, 'transform');
    const numericColumns = header.filter((_, column) =>
      valid.every((cells) => Number.isFinite(Number(cells[column]))),
    );
    const totals = Object.fromEntries(
      numericColumns.map((name) => {
        const column = header.indexOf(name);
        return [name, valid.reduce((sum, cells) => sum + Number(cells[column]), 0)];
      }),
    );
    await pause();

    await progress(90, 'store');
    const checksum = createHash('sha256').update(text).digest('hex');
    await pause();

    await progress(100, 'done');
    return {
      filename: payload.filename,
      columns: header,
      rowCount: records.length,
      validRows: valid.length,
      invalidRows: invalid.length,
      totals,
      checksum,
    };
  },
});

function sampleCsv(seed: string, rows: number): string {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  const next = () => {
    // xorshift32: cheap, deterministic sample data.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const out = ['id,sku,quantity,unit_price'];
  for (let i = 1; i <= rows; i++) {
    out.push(
      `${i},SKU-${Math.floor(next() * 900) + 100},${Math.floor(next() * 50) + 1},${(next() * 200).toFixed(2)}`,
    );
  }
  return out.join('\n');
}
