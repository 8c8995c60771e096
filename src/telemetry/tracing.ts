/**
 * OpenTelemetry traces of jobs, through the OpenTelemetry API only (`@opentelemetry/api`): with no
 * SDK registered in the process every span here is a no-op, so jobdeck costs nothing until an
 * application (or `JOBDECK_OTEL=true`, src/telemetry/setup.ts) registers one.
 *
 * The tree of one job: the caller's span (an HTTP request, say) → `jobdeck enqueue <type>`
 * (PRODUCER, around the insert) → one `jobdeck run <type>` span per attempt (CONSUMER, from the
 * start of the attempt until its outcome is committed) → one `jobdeck step <name>` span per durable
 * step the attempt runs. The enqueue span's context travels with the job as a W3C `traceparent`
 * in the job's `metadata`, so every attempt, in any worker process, joins the trace it came from.
 */
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { VERSION } from '../version.ts';

/** The metadata key that carries the enqueue span's context to the job's attempts. */
export const TRACEPARENT_KEY = 'traceparent';

const tracer = () => trace.getTracer('jobdeck', VERSION);

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C `traceparent` of `span`; null when it is not recording (no SDK, or not sampled). */
export function traceparentOf(span: Span): string | null {
  if (!span.isRecording()) return null;
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The context a job's `traceparent` (from its metadata) names, as a remote parent; the root
 * context when there is none or it is not a valid W3C traceparent (a job's metadata is the
 * caller's to write).
 */
export function contextOfTraceparent(value: unknown): Context {
  const match = typeof value === 'string' ? TRACEPARENT.exec(value) : null;
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: Number.parseInt(match[3]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/** Marks `span` failed with `error`. */
function fail(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/**
 * Runs an enqueue of `count` jobs of `type` in a `jobdeck enqueue <type>` span; `enqueue` gets the
 * span's traceparent (null when not recording) to store with each job, and returns the ids.
 */
export async function tracedEnqueue<T extends { id: string }>(
  type: string,
  count: number,
  enqueue: (traceparent: string | null) => Promise<T[]>,
): Promise<T[]> {
  return tracer().startActiveSpan(
    `jobdeck enqueue ${type}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'jobdeck',
        'messaging.operation.type': 'send',
        'messaging.destination.name': type,
        'jobdeck.job.type': type,
        'messaging.batch.message_count': count,
      },
    },
    async (span) => {
      try {
        const jobs = await enqueue(traceparentOf(span));
        if (jobs.length === 1) span.setAttribute('jobdeck.job.id', jobs[0]!.id);
        return jobs;
      } catch (error) {
        fail(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** Metadata with `traceparent` added (when there is one and the caller did not set the key). */
export function withTraceparent(
  metadata: Record<string, unknown> | undefined,
  traceparent: string | null,
): Record<string, unknown> | undefined {
  if (traceparent === null) return metadata;
  if (metadata === undefined) return { [TRACEPARENT_KEY]: traceparent };
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return metadata;
  return TRACEPARENT_KEY in metadata ? metadata : { ...metadata, [TRACEPARENT_KEY]: traceparent };
}

/** What an attempt's span says about its job. */
export interface AttemptSpanJob {
  id: string;
  type: string;
  queue: string | null;
  metadata: unknown;
}

/**
 * Starts the span of one attempt, `jobdeck run <type>`, as a child of the job's enqueue span
 * (its metadata's traceparent) when it has one.
 */
export function startAttemptSpan(job: AttemptSpanJob, attempt: number): Span {
  const parent = contextOfTraceparent(
    job.metadata && typeof job.metadata === 'object'
      ? (job.metadata as Record<string, unknown>)[TRACEPARENT_KEY]
      : undefined,
  );
  const attributes: Attributes = {
    'messaging.system': 'jobdeck',
    'messaging.operation.type': 'process',
    'messaging.destination.name': job.type,
    'jobdeck.job.id': job.id,
    'jobdeck.job.type': job.type,
    'jobdeck.job.attempt': attempt,
  };
  if (job.queue !== null) attributes['jobdeck.job.queue'] = job.queue;
  return tracer().startSpan(
    `jobdeck run ${job.type}`,
    { kind: SpanKind.CONSUMER, attributes },
    parent,
  );
}

/** Runs `fn` with `span` as the active span: what the task does (its own spans) nests under it. */
export function withSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}

/**
 * Ends an attempt's span once its outcome is committed: `outcome` is what the attempt did
 * (`succeeded`, `error`, `cancelled`, `parked`…), `status` the job's status it left (`retrying`,
 * `failed`…; null when the finish could not be recorded); an error makes the span's status ERROR.
 */
export function endAttemptSpan(
  span: Span,
  outcome: string,
  status: string | null,
  error?: { message?: string } | null,
): void {
  span.setAttribute('jobdeck.job.outcome', outcome);
  if (status !== null) span.setAttribute('jobdeck.job.status', status);
  if (error || status === null || outcome === 'error')
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error?.message ?? (status === null ? 'the outcome was not recorded' : outcome),
    });
  span.end();
}

/** Runs one durable step's function in a `jobdeck step <name>` span (a child of the attempt's). */
export async function tracedStep<T>(name: string, run: () => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(
    `jobdeck step ${name}`,
    { attributes: { 'jobdeck.step.name': name } },
    async (span) => {
      try {
        return await run();
      } catch (error) {
        fail(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** Notes on the active span (the attempt's) that step `name` returned its stored result. */
export function noteStepReplayed(name: string): void {
  trace.getActiveSpan()?.addEvent('jobdeck.step.replayed', { 'jobdeck.step.name': name });
}
