import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { ROOT, startCli } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

/**
 * OpenTelemetry (issue 24, item 4): with an SDK registered, an enqueue inside a request's span
 * gives the tree request → `jobdeck enqueue` → one `jobdeck run` span per attempt → one
 * `jobdeck step` span per step the attempt ran, with the job's id, type, attempt and outcome;
 * and `jobdeck worker` with JOBDECK_OTEL=true exports its spans over OTLP/HTTP, in the trace the
 * enqueue started.
 */
const TASKS_DIR = path.join(ROOT, 'test/fixtures/tasks');

let t: TestDatabase;
let jobdeck: Jobdeck;
let tasks: TaskRegistry;
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  t = await createTestDatabase();
  tasks = await loadTasks(TASKS_DIR);
  await registerTasks(t, tasks);
  await t.pool.query(
    'create table step_runs (job_id uuid, step int, attempt int, hang boolean default false)',
  );
  jobdeck = createJobdeck({ connectionString: t.url });
});
afterEach(async () => {
  await stopWorkers();
  exporter.reset();
});
afterAll(async () => {
  await jobdeck.close();
  await t.drop();
  await provider.shutdown();
  trace.disable();
  context.disable();
});

const attr = (span: ReadableSpan, key: string) => span.attributes[key];
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe('OpenTelemetry traces of a job', () => {
  it('nest the enqueue in the caller’s span, every attempt under the enqueue, and each step it ran under its attempt', async () => {
    const tracer = trace.getTracer('test');
    // The application's request span: the job joins its trace.
    const job = await tracer.startActiveSpan('POST /imports', async (request) => {
      try {
        // Step 2 fails on the first attempt; the second attempt replays step 1 and runs 2–5.
        return await jobdeck.enqueueJob('durable_steps', { failAt: 2 });
      } finally {
        request.end();
      }
    });
    expect(job.metadata).toMatchObject({ traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-/) });
    await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
    const spans = await waitFor(
      () => {
        const all = exporter.getFinishedSpans();
        return all.filter((s) => s.name === 'jobdeck run durable_steps').length === 2 && all;
      },
      { what: 'both attempts’ spans' },
    );
    const byName = (name: string) => spans.filter((s) => s.name === name);
    const [request] = byName('POST /imports');
    const [enqueue] = byName('jobdeck enqueue durable_steps');
    expect(enqueue).toBeDefined();
    expect(enqueue!.kind).toBe(SpanKind.PRODUCER);
    expect(parentOf(enqueue!)).toBe(request!.spanContext().spanId);
    expect(attr(enqueue!, 'jobdeck.job.id')).toBe(job.id);

    const attempts = byName('jobdeck run durable_steps').sort(
      (a, b) => Number(attr(a, 'jobdeck.job.attempt')) - Number(attr(b, 'jobdeck.job.attempt')),
    );
    for (const span of attempts) {
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(span.spanContext().traceId).toBe(request!.spanContext().traceId);
      expect(parentOf(span)).toBe(enqueue!.spanContext().spanId);
      expect(attr(span, 'jobdeck.job.id')).toBe(job.id);
      expect(attr(span, 'jobdeck.job.type')).toBe('durable_steps');
    }
    expect(attempts.map((s) => attr(s, 'jobdeck.job.attempt'))).toEqual([1, 2]);
    expect(attempts.map((s) => attr(s, 'jobdeck.job.outcome'))).toEqual(['error', 'succeeded']);
    expect(attempts.map((s) => attr(s, 'jobdeck.job.status'))).toEqual(['retrying', 'succeeded']);
    expect(attempts[0]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(attempts[1]!.status.code).not.toBe(SpanStatusCode.ERROR);

    // Each attempt's steps under it: the first ran steps 1 and 2 (which failed); the second
    // replayed step 1 (an event, no span) and ran 2–5.
    const stepsOf = (attempt: ReadableSpan) =>
      spans
        .filter((s) => parentOf(s) === attempt.spanContext().spanId)
        .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1])
        .map((s) => `${s.name}${s.status.code === SpanStatusCode.ERROR ? ' (error)' : ''}`);
    expect(stepsOf(attempts[0]!)).toEqual(['jobdeck step step-1', 'jobdeck step step-2 (error)']);
    expect(stepsOf(attempts[1]!)).toEqual([
      'jobdeck step step-2',
      'jobdeck step step-3',
      'jobdeck step step-4',
      'jobdeck step step-5',
    ]);
    expect(attempts[1]!.events.map((e) => [e.name, e.attributes?.['jobdeck.step.name']])).toEqual([
      ['jobdeck.step.replayed', 'step-1'],
    ]);
  });

  it('keeps the caller’s metadata, and a traceparent key of their own', async () => {
    // Outside any span the enqueue span is a root: the job still carries it, for its attempts.
    const plain = await jobdeck.enqueueJob('durable_steps', {}, { metadata: { source: 'test' } });
    expect(plain.metadata).toMatchObject({ source: 'test', traceparent: expect.any(String) });
    const own = await jobdeck.enqueueJob(
      'durable_steps',
      {},
      { metadata: { traceparent: 'mine' } },
    );
    expect(own.metadata).toEqual({ traceparent: 'mine' });
    // A job whose traceparent is not a W3C one still runs, in a trace of its own.
    await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, own.id, 'succeeded', { timeoutMs: 30_000 });
    const run = await waitFor(() =>
      exporter
        .getFinishedSpans()
        .find(
          (s) => s.name === 'jobdeck run durable_steps' && attr(s, 'jobdeck.job.id') === own.id,
        ),
    );
    expect(run.parentSpanContext).toBeUndefined();
  });
});

describe('jobdeck worker with JOBDECK_OTEL=true', () => {
  let collector: Server;
  const received: unknown[] = [];

  beforeAll(async () => {
    collector = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (request.url === '/v1/traces') received.push(JSON.parse(body));
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => collector.close(resolve));
  });

  it('exports each attempt’s span over OTLP/HTTP in the trace of the enqueue', async () => {
    const { port } = collector.address() as AddressInfo;
    const worker = await startCli(['worker'], {
      DATABASE_URL: t.url,
      JOBDECK_TASKS_DIR: TASKS_DIR,
      JOBDECK_CRONTAB: path.join(ROOT, 'test/fixtures/no-crontab'),
      JOBDECK_POLL_INTERVAL_MS: '200',
      JOBDECK_LOG_LEVEL: 'error',
      JOBDECK_OTEL: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_SERVICE_NAME: 'jobdeck-test-worker',
    });
    let job;
    try {
      job = await jobdeck.enqueueJob('durable_steps', {});
      await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
    } finally {
      // SIGTERM: the worker flushes its spans before it exits.
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    const traceId = /^00-([0-9a-f]{32})-([0-9a-f]{16})-/.exec(String(job.metadata['traceparent']));
    type OtlpSpan = {
      name: string;
      traceId: string;
      parentSpanId?: string;
      attributes: { key: string; value: { stringValue?: string } }[];
    };
    type Otlp = {
      resourceSpans: {
        resource: { attributes: { key: string; value: { stringValue?: string } }[] };
        scopeSpans: { spans: OtlpSpan[] }[];
      }[];
    };
    const resources = (received as Otlp[]).flatMap((r) => r.resourceSpans);
    const spans = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    const run = spans.find((s) => s.name === 'jobdeck run durable_steps');
    expect(run).toBeDefined();
    expect(run!.traceId).toBe(traceId![1]);
    expect(run!.parentSpanId).toBe(traceId![2]);
    expect(run!.attributes).toContainEqual({
      key: 'jobdeck.job.id',
      value: { stringValue: job.id },
    });
    expect(spans.filter((s) => s.name.startsWith('jobdeck step ')).length).toBe(5);
    expect(resources[0]!.resource.attributes).toContainEqual({
      key: 'service.name',
      value: { stringValue: 'jobdeck-test-worker' },
    });
  });
});
