import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z, defineTask, PermanentJobError, loadConfig, sleep } from 'jobdeck';

/** The reports this task knows how to build (seed 004). */
export const REPORT_TYPES = ['quotes', 'orders', 'invoices', 'customers'] as const;

/**
 * Exports a report (seed 004): validate 20, query 40, process 60, format 80, generate 95,
 * finalize 100. An unknown reportType fails at the validate step without retry, as the seed's
 * failure flow shows. The file is written under `<data dir>/exports/`.
 */
export default defineTask({
  category: 'export',
  description:
    'Export a report as CSV or JSON (steps: validate, query, process, format, generate, finalize)',
  maxAttempts: 4,
  payload: z.object({
    reportType: z.string().min(1).max(100),
    format: z.enum(['csv', 'json']),
    filters: z
      .object({
        dateFrom: z.string().optional(),
        dateTo: z.string().optional(),
        status: z.string().optional(),
      })
      .optional(),
    stepDelayMs: z.number().int().min(0).max(60_000).optional(),
  }),
  async run({ payload, progress, log, signal, job }) {
    const pause = () => sleep(payload.stepDelayMs ?? 400, signal);
    const steps = 6;

    await progress({ completed: 1, total: steps }, 'validate');
    await progress(20);
    if (!(REPORT_TYPES as readonly string[]).includes(payload.reportType)) {
      throw new PermanentJobError(
        `Invalid export job payload: reportType "${payload.reportType}" is not one of ${REPORT_TYPES.join(', ')}`,
      );
    }
    const from = payload.filters?.dateFrom
      ? new Date(payload.filters.dateFrom)
      : new Date('2024-01-01');
    const to = payload.filters?.dateTo ? new Date(payload.filters.dateTo) : new Date('2024-12-31');
    // Years 1000–9999: a report's days are counted past dateTo, and JavaScript dates end at
    // +275760-09-13 (a date there would make the query step throw, and retry, instead).
    const inRange = (d: Date) => d.getUTCFullYear() >= 1000 && d.getUTCFullYear() <= 9999;
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from > to) {
      throw new PermanentJobError(
        'Invalid export job payload: filters.dateFrom/dateTo must be dates with dateFrom <= dateTo',
      );
    }
    if (!inRange(from) || !inRange(to)) {
      throw new PermanentJobError(
        'Invalid export job payload: filters.dateFrom/dateTo must be dates in the years 1000 to 9999',
      );
    }
    await pause();

    await progress({ completed: 2, total: steps }, 'query');
    await progress(40);
    const records = queryRecords(payload.reportType, from, to);
    await log('info', `queried ${records.length} ${payload.reportType}`);
    await pause();

    await progress({ completed: 3, total: steps }, 'process');
    await progress(60);
    const total = records.reduce((sum, record) => sum + record.amount, 0);
    await pause();

    await progress({ completed: 4, total: steps }, 'format');
    await progress(80);
    const body =
      payload.format === 'json'
        ? JSON.stringify({ reportType: payload.reportType, total, records }, null, 2)
        : [
            'id,date,customer,amount',
            ...records.map((r) => `${r.id},${r.date},${r.customer},${r.amount.toFixed(2)}`),
          ].join('\n');
    await pause();

    await progress({ completed: 5, total: steps }, 'generate');
    await progress(95);
    const generatedAt = new Date();
    // Named by the job's id: unique per job, so no two jobs (or organisations) ever share a file.
    const fileName = `${payload.reportType}_${generatedAt.toISOString().slice(0, 10)}_${job.id}.${payload.format}`;
    const dir = path.join(loadConfig().dataDir, 'exports');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, fileName), body);
    await pause();

    await progress({ completed: 6, total: steps }, 'finalize');
    return {
      downloadUrl: `/api/v1/exports/${fileName}`,
      fileSize: Buffer.byteLength(body),
      recordCount: records.length,
      generatedAt: generatedAt.toISOString(),
      reportType: payload.reportType,
      format: payload.format,
    };
  },
});

interface ReportRecord {
  id: number;
  date: string;
  customer: string;
  amount: number;
}

function queryRecords(reportType: string, from: Date, to: Date): ReportRecord[] {
  const days = Math.max(1, Math.round((to.getTime() - from.getTime()) / 86_400_000));
  const count = Math.min(5000, days * 4 + reportType.length * 10);
  const records: ReportRecord[] = [];
  for (let i = 0; i < count; i++) {
    const date = new Date(from.getTime() + (i * 86_400_000 * days) / count);
    records.push({
      id: i + 1,
      date: date.toISOString().slice(0, 10),
      customer: `C-${(i * 7919) % 1000}`,
      amount: ((i * 104729) % 100000) / 100,
    });
  }
  return records;
}
