import { execFile, spawnSync } from 'node:child_process';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
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

/** A sample value as the text format spells it (Go's float syntax: NaN and ±Inf in any case, as prom-client writes `Nan`). */
const SAMPLE_VALUE = /^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?Inf|NaN)$/i;

/** Prometheus's own checker, when the machine has it (Debian: apt-get install prometheus). */
const PROMTOOL = spawnSync('promtool', ['--version']).status === 0;

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

describe('/metrics outcome counters and queue series', () => {
  const scrape = async (url: string) =>
    parseExposition(await (await fetch(`${url}/metrics`)).text());
  /** Moves a job through one attempt as a worker's writes would; the trigger records transitions. */
  const attempt = async (id: string, n: number, end: 'retrying' | 'failed') => {
    await t.pool.query(
      `update jobdeck.jobs set status = 'running', attempts = $2, started_at = now() where id = $1`,
      [id, n],
    );
    await t.pool.query(
      `update jobdeck.jobs
          set status = $2,
              errors = errors || jsonb_build_array(jsonb_build_object('attempt', $3::int, 'message', 'boom')),
              run_at = now() + interval '1 hour',
              finished_at = case when $2 = 'failed' then now() end
        where id = $1`,
      [id, end, n],
    );
  };

  it('counts N retries as N and each failure once, whether scraped after every step or only at the end', async () => {
    // a second process, scraped only at the end, must agree with the one scraped at every step
    const quiet = await startTestServer(t);
    try {
      const type = 'import_file';
      const before = await scrape(server.url);
      const base = (name: string) => before.get(`${name}{type="${type}"}`) ?? 0;
      const job = await jobdeck.enqueueJob(
        type,
        { filename: 'r.csv', rows: 1, stepDelayMs: 0 },
        { runAt: new Date(Date.now() + 3_600_000), maxAttempts: 5 },
      );
      for (let n = 1; n <= 4; n += 1) {
        await attempt(job.id, n, 'retrying');
        await scrape(server.url);
      }
      await attempt(job.id, 5, 'failed');
      await scrape(server.url);
      // a retry by hand counts as one more retry; failing again counts as one more failure (the
      // attempt after a retry by hand is the job's 6th: attempt numbers never repeat)
      await jobdeck.retryJob(job.id);
      await attempt(job.id, 6, 'failed');
      for (const url of [server.url, quiet.url]) {
        const after = await scrape(url);
        const from = url === server.url ? base : () => 0;
        expect(after.get(`jobdeck_jobs_retried_total{type="${type}"}`), url).toBe(
          from('jobdeck_jobs_retried_total') + 5,
        );
        expect(after.get(`jobdeck_jobs_failed_total{type="${type}"}`), url).toBe(
          from('jobdeck_jobs_failed_total') + 2,
        );
      }
      // read again: the same figures (a counter is not bumped by being read)
      const again = await scrape(quiet.url);
      expect(again.get(`jobdeck_jobs_retried_total{type="${type}"}`)).toBe(5);
      expect(again.get(`jobdeck_jobs_failed_total{type="${type}"}`)).toBe(2);
    } finally {
      await quiet.close();
    }
  });

  it('keeps a series at 0 for every status of every registered type, and for a queue that emptied', async () => {
    const job = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      {
        runAt: new Date(Date.now() + 3_600_000),
      },
    );
    const queued = await scrape(server.url);
    expect(queued.get('jobdeck_jobs{status="queued",type="export_report"}')).toBeGreaterThan(0);
    await jobdeck.cancelJob(job.id);
    const after = await scrape(server.url);
    for (const type of ['export_report', 'import_file', 'deliver_webhook', 'prune_jobs'])
      for (const status of ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'])
        expect(
          after.has(`jobdeck_jobs{status="${status}",type="${type}"}`),
          `${status} ${type}`,
        ).toBe(true);
    expect(after.get('jobdeck_jobs{status="queued",type="export_report"}')).toBe(
      (queued.get('jobdeck_jobs{status="queued",type="export_report"}') ?? 0) - 1,
    );
    for (const name of ['failed', 'retried', 'cancelled'])
      expect(after.has(`jobdeck_jobs_${name}_total{type="prune_jobs"}`), name).toBe(true);
  });

  it('reads as valid exposition to a Prometheus parser: `_total` on counters and only there', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const families = parsePrometheusTextFormat(text);
    expect(families.length).toBeGreaterThan(20);
    for (const family of families) {
      expect(family.name, family.name).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
      expect(family.name, family.name).toMatch(/^jobdeck_/);
      expect(family.type, family.name).not.toBe('UNTYPED');
      expect(family.help, family.name).not.toBe('');
      expect(family.name.endsWith('_total'), `${family.name} (${family.type})`).toBe(
        family.type === 'COUNTER',
      );
      for (const metric of family.metrics) {
        const values =
          family.type === 'HISTOGRAM'
            ? [...Object.values(metric.buckets ?? {}), metric.count, metric.sum]
            : [metric.value];
        for (const value of values)
          if (value !== undefined) expect(value, family.name).toMatch(SAMPLE_VALUE);
      }
    }
    const names = families.map((family) => family.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'jobdeck_jobs',
        'jobdeck_jobs_failed_total',
        'jobdeck_jobs_retried_total',
        'jobdeck_jobs_cancelled_total',
        'jobdeck_nodejs_active_handles',
      ]),
    );
    expect(names).not.toContain('jobdeck_nodejs_active_handles_total');
  });

  it.skipIf(!PROMTOOL)(
    'passes `promtool check metrics` (skipped where promtool is not installed: apt-get install prometheus)',
    async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = execFile('promtool', ['check', 'metrics'], (error, stdout, stderr) =>
          resolve({ code: error ? (error.code as number | null) : 0, output: stdout + stderr }),
        );
        child.stdin!.end(text);
      });
      expect(result).toEqual({ code: 0, output: '' });
    },
  );
});
