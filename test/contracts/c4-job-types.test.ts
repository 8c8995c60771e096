import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenFor } from '../helpers/api.ts';
import { waitFor } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { runTestWorker } from '../helpers/worker.ts';

/**
 * Seed 004's job types, as its frontend creates them (`POST /v1/jobs {jobType, payload}`) and
 * polls them (`GET /v1/jobs/:id/status`): each is a real task doing small real work.
 */

const bed = useApiTestbed();
let dataDir: string;
let hook: Server;
let hookUrl: string;
const received: { headers: Record<string, unknown>; body: Record<string, unknown> }[] = [];
let token: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-c4-'));
  await chmod(dataDir, 0o755);
  // The tasks read jobdeck's settings from the environment, as a worker process does.
  process.env['JOBDECK_DATA_DIR'] = dataDir;
  process.env['JOBDECK_WEBHOOK_ALLOW_INTERNAL'] = '127.0.0.1';
  hook = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      received.push({
        headers: request.headers,
        body: JSON.parse(text) as Record<string, unknown>,
      });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/notify`;
  token = await tokenFor('c4user', 'acme');
});

afterAll(async () => {
  await new Promise((resolve) => hook.close(resolve));
  await rm(dataDir, { recursive: true, force: true });
});

/** Creates a job as the C4 frontend does and waits until its status says it is finished. */
async function runJob(jobType: string, payload: unknown) {
  const created = await fetch(`${bed.server.url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ jobType, payload }),
  });
  expect(created.status).toBe(201);
  const { jobId } = (await created.json()) as { jobId: string };
  return waitFor(
    async () => {
      const response = await fetch(`${bed.server.url}/v1/jobs/${jobId}/status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = (await response.json()) as {
        job: { status: string; result: Record<string, unknown> | null; error?: unknown };
        progress: number;
      };
      return ['succeeded', 'failed'].includes(body.job.status) && body;
    },
    { timeoutMs: 30_000, what: `${jobType} to finish` },
  );
}

describe('seed 004 job types', () => {
  it('runs data_processing, cleanup, notification and sync to a result', async () => {
    const worker = await runTestWorker(bed.t, bed.tasks);
    try {
      const processed = await runJob('data_processing', {
        dataset: 'sensor-readings',
        rows: 25_000,
        chunkSize: 5_000,
        seed: 42,
      });
      expect(processed.job.status).toBe('succeeded');
      expect(processed.progress).toBe(100);
      expect(processed.job.result).toMatchObject({ dataset: 'sensor-readings', rows: 25_000 });
      const stats = processed.job.result as { min: number; max: number; mean: number };
      expect(stats.min).toBeGreaterThanOrEqual(0);
      expect(stats.max).toBeLessThanOrEqual(1000);
      expect(stats.mean).toBeGreaterThan(stats.min);
      // the same seed, the same dataset: the same figures
      const again = await runJob('data_processing', {
        dataset: 'sensor-readings',
        rows: 25_000,
        chunkSize: 5_000,
        seed: 42,
      });
      expect(again.job.result).toEqual(processed.job.result);

      const exportsDir = path.join(dataDir, 'exports');
      await mkdir(exportsDir, { recursive: true });
      await writeFile(path.join(exportsDir, 'old.csv'), 'id\n1\n');
      await writeFile(path.join(exportsDir, 'new.csv'), 'id\n2\n');
      const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
      await utimes(path.join(exportsDir, 'old.csv'), tenDaysAgo, tenDaysAgo);
      const dry = await runJob('cleanup', { olderThanDays: 7, dryRun: true });
      expect(dry.job.result).toMatchObject({
        scanned: 2,
        deleted: 1,
        dryRun: true,
        files: ['old.csv'],
      });
      expect((await readdir(exportsDir)).sort()).toEqual(['new.csv', 'old.csv']);
      const cleaned = await runJob('cleanup', { olderThanDays: 7 });
      expect(cleaned.job.result).toMatchObject({ deleted: 1, dryRun: false });
      expect(await readdir(exportsDir)).toEqual(['new.csv']);

      const notified = await runJob('notification', {
        url: hookUrl,
        title: 'Export ready',
        message: 'Hello {{name}}, your {{report}} export is ready',
        recipients: ['ops@example.com'],
        data: { name: 'Ada', report: 'quotes' },
      });
      expect(notified.job.status).toBe('succeeded');
      expect(received).toHaveLength(1);
      expect(received[0]!.body).toMatchObject({
        title: 'Export ready',
        message: 'Hello Ada, your quotes export is ready',
        recipients: ['ops@example.com'],
      });
      expect(received[0]!.headers['x-jobdeck-signature']).toMatch(/^sha256=/);
      const unfilled = await runJob('notification', {
        url: hookUrl,
        title: 't',
        message: 'Hello {{name}}',
      });
      expect(unfilled.job.status).toBe('failed');
      expect(received).toHaveLength(1);

      const first = await runJob('sync', {
        source: 'crm',
        records: [
          { id: 1, name: 'Ada' },
          { id: 2, name: 'Grace' },
        ],
      });
      expect(first.job.result).toMatchObject({ total: 2, added: 2, changed: 0, removed: 0 });
      const second = await runJob('sync', {
        source: 'crm',
        records: [
          { id: 2, name: 'Grace Hopper' },
          { id: 3, name: 'Edsger' },
        ],
      });
      expect(second.job.result).toMatchObject({
        total: 2,
        added: 1,
        changed: 1,
        removed: 1,
        unchanged: 0,
      });
    } finally {
      await worker.stop();
    }
  });

  it('refuses a bad payload for each type with 400 and the reason, writing nothing', async () => {
    for (const [jobType, payload, reason] of [
      ['data_processing', { dataset: '', rows: 10 }, /dataset/],
      ['cleanup', { olderThanDays: -1 }, /olderThanDays/],
      ['notification', { url: 'ftp://example.com', title: 't', message: 'm' }, /url/],
      ['sync', { source: '../etc', records: [] }, /source/],
    ] as const) {
      const response = await fetch(`${bed.server.url}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ jobType, payload }),
      });
      expect(response.status, jobType).toBe(400);
      expect(((await response.json()) as { message: string }).message).toMatch(reason);
    }
  });
});
