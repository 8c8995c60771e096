import { beforeAll, describe, expect, it } from 'vitest';
import type { Jobdeck } from '../../src/client.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { startTestServer, tokenFor } from '../helpers/api.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { runTestWorker } from '../helpers/worker.ts';

let t: TestDatabase;
let jobdeck: Jobdeck;
let server: JobdeckServer;
let tasks: TaskRegistry;

const bed = useApiTestbed();

beforeAll(async () => {
  ({ t, jobdeck, server, tasks } = bed);
});

/** Parses the Prometheus text format into `name{labels}` → value, checking every line's syntax. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    // values as Prometheus reads them (Go's ParseFloat: NaN and Inf in any case)
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|nan|[+-]?inf)$/i.exec(
      line,
    );
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    samples.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

describe('/metrics with JOBDECK_METRICS_TOKEN', () => {
  it('needs the token', async () => {
    const own = await startTestServer(t, { metricsToken: 'metrics-token-1234567' });
    try {
      expect((await fetch(`${own.url}/metrics`)).status).toBe(401);
      const ok = await fetch(`${own.url}/metrics`, {
        headers: { authorization: 'Bearer metrics-token-1234567' },
      });
      expect(ok.status).toBe(200);
    } finally {
      await own.close();
    }
  });
});

describe('/healthz and /readyz', () => {
  it('reports up always, and ready only with a live worker', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const idle = await fetch(`${server.url}/readyz`);
    expect(idle.status).toBe(503);
    expect(await idle.json()).toMatchObject({
      status: 'not ready',
      checks: {
        database: { ok: true },
        migrations: { ok: true },
        workers: { ok: false, message: expect.stringMatching(/no worker/) },
      },
    });
    const worker = await runTestWorker(t, tasks);
    try {
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        status: 'ready',
        checks: { workers: { ok: true } },
      });
    } finally {
      await worker.stop();
    }
  });
});

describe('/metrics', () => {
  it('exposes job gauges, duration and wait histograms, outcome counters and HTTP latency', async () => {
    // the first scrape sets the starting point; jobs finished after it are observed
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    const worker = await runTestWorker(t, tasks);
    try {
      const ok = await jobdeck.enqueueJob('import_file', {
        filename: 'm.csv',
        rows: 5,
        stepDelayMs: 0,
      });
      const waiting = await jobdeck.enqueueJob(
        'export_report',
        { reportType: 'quotes', format: 'csv' },
        { runAt: new Date(Date.now() + 3_600_000) },
      );
      await jobdeck.cancelJob(waiting.id);
      await waitForStatus(jobdeck, ok.id, 'succeeded');
      // The failed job finishes last: the scrapes below must not count the newest job again.
      const bad = await jobdeck.enqueueJob('export_report', {
        reportType: 'invalid_report',
        format: 'csv',
      });
      await waitForStatus(jobdeck, bad.id, 'failed');
    } finally {
      await worker.stop();
    }
    await fetch(`${server.url}/api/v2/jobs/active`, {
      headers: { authorization: `Bearer ${await tokenFor('m', 'acme')}` },
    });
    const response = await fetch(`${server.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/text\/plain/);
    const samples = parseExposition(await response.text());
    expect(samples.get('jobdeck_jobs{status="succeeded",type="import_file"}')).toBe(1);
    expect(samples.get('jobdeck_jobs{status="failed",type="export_report"}')).toBe(1);
    expect(samples.get('jobdeck_jobs{status="cancelled",type="export_report"}')).toBe(1);
    expect(
      samples.get('jobdeck_job_duration_seconds_count{type="import_file",status="succeeded"}'),
    ).toBe(1);
    expect(samples.get('jobdeck_job_queue_wait_seconds_count{type="import_file"}')).toBe(1);
    expect(samples.get('jobdeck_jobs_failed_total{type="export_report"}')).toBe(1);
    expect(samples.get('jobdeck_jobs_cancelled_total{type="export_report"}')).toBe(1);
    expect(samples.get('jobdeck_workers{state="alive"}')).toBe(0);
    expect(
      samples.get(
        'jobdeck_http_request_duration_seconds_count{method="GET",route="/api/v2/jobs/active",status="200"}',
      ),
    ).toBe(1);
    expect(
      [...samples.keys()].some((key) => key.startsWith('jobdeck_process_resident_memory_bytes')),
    ).toBe(true);
    // observed once: further scrapes, even many at once, do not count the same jobs again
    const scrapes = await Promise.all(
      Array.from({ length: 10 }, async () => (await fetch(`${server.url}/metrics`)).text()),
    );
    for (const text of [...scrapes, await (await fetch(`${server.url}/metrics`)).text()])
      expect(parseExposition(text).get('jobdeck_jobs_failed_total{type="export_report"}')).toBe(1);
  });
});
