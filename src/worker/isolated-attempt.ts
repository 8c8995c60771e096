import { fork, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { JobHelpers } from 'graphile-worker';
import type { Job, JobEventLevel } from '../db/types.ts';
import { ResourceLimitError } from '../errors.ts';
import type { ResourceLimits } from '../jobs/registry.ts';
import type { ProgressValue, TaskContext } from '../jobs/task.ts';
import { FROM_SOURCES } from '../paths.ts';
import type { Duration } from '../jobs/policy.ts';
import type { DurableSteps } from './steps.ts';

/** An error crossing the process boundary, as data. */
export interface RemoteError {
  name: string;
  message: string;
  stack?: string | null;
  permanent?: boolean;
  props?: Record<string, unknown>;
}

/** What the child measured of itself: RSS now and at its peak (VmHWM; bytes), CPU time (µs). */
export interface ChildUsage {
  rss: number;
  maxRss: number;
  cpuUs: number;
}

/** Messages from the worker to the task's process. */
export type ParentMessage =
  | {
      kind: 'run';
      file: string;
      payload: unknown;
      job: Job;
      attempt: number;
      gwJob: unknown;
      /** Report usage every this many ms (where the worker cannot read /proc), or 0. */
      selfReport: number;
    }
  | { kind: 'abort'; reason: RemoteError }
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: RemoteError };

/** Messages from the task's process to the worker. */
export type ChildMessage =
  | { kind: 'ready' }
  | { kind: 'call'; id: number; method: string; args: unknown[] }
  | ({ kind: 'usage' } & ChildUsage)
  | { kind: 'done'; ok: true; resultJson: string | null; usage: ChildUsage }
  | { kind: 'done'; ok: false; error: RemoteError; usage: ChildUsage };

/** How often the worker reads a limited attempt's memory and CPU time. */
export const LIMIT_SAMPLE_MS = 100;

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS_PER_SECOND = 100;

/** The module forked for each attempt: the TypeScript source in the repository, JavaScript in dist/. */
const CHILD_MODULE = fileURLToPath(
  new URL(`./task-process.${FROM_SOURCES ? 'ts' : 'js'}`, import.meta.url),
);

/** A task's process exited, or could not start, before its attempt ended. Retryable. */
export class TaskProcessError extends Error {
  override readonly name = 'TaskProcessError';
}

/** One attempt's resource figures, as the heartbeat and the finish record them. */
export interface AttemptUsage {
  peakRssBytes: number;
  cpuMs: number;
}

/** What {@link runIsolatedAttempt} needs. */
export interface IsolatedAttemptOptions {
  type: string;
  /** The task module's file. */
  file: string;
  limits: ResourceLimits;
  /** The parsed payload. */
  payload: unknown;
  /** The in-process context the child's calls are replayed on (it writes through the tracker). */
  ctx: TaskContext<unknown>;
  /** The attempt's durable steps: the child's steps, sleeps and waits are decided here. */
  steps?: DurableSteps;
  helpers: JobHelpers;
  /** Filled in as the attempt's process is measured. */
  usage: AttemptUsage;
  /** How often to measure the process (default {@link LIMIT_SAMPLE_MS}; tests and bench change it). */
  sampleMs?: number;
}

/** A running isolated attempt. */
export interface IsolatedAttempt {
  /** Settles with the task's return value, or rejects with its error or the limit it broke. */
  readonly result: Promise<unknown>;
  /** Kills the process if it still runs (SIGKILL); idempotent. */
  kill(): void;
}

/**
 * The flags the task's process starts with: a V8 heap ceiling at the memory limit, and the
 * module resolution flags the worker runs with (`--conditions`, `--import`, `--loader`), so the
 * task module resolves its imports the same way. From the repository's sources, imports of
 * `jobdeck` resolve to the sources as they do for `npm run`.
 */
export function childExecArgv(limits: ResourceLimits): string[] {
  const args: string[] = [];
  const inherited = process.execArgv;
  for (let i = 0; i < inherited.length; i++) {
    const arg = inherited[i]!;
    if (/^(--conditions|-C|--import|--loader|--experimental-loader|--require|-r)$/.test(arg)) {
      const value = inherited[i + 1];
      if (value !== undefined) args.push(arg, value);
      i++;
    } else if (
      /^--(conditions|import|loader|experimental-loader|require|experimental-|no-experimental-|enable-source-maps)/.test(
        arg,
      )
    ) {
      args.push(arg);
    }
  }
  if (FROM_SOURCES && !args.some((a) => a.includes('jobdeck-source')))
    args.push('--conditions=jobdeck-source');
  if (limits.memoryBytes !== null)
    args.push(`--max-old-space-size=${Math.floor(limits.memoryBytes / 1024 / 1024)}`);
  return args;
}

/**
 * Peak RSS (bytes, the kernel's high-water mark VmHWM, which starts afresh at exec) and CPU time
 * (ms) of a process from /proc; null where there is no /proc.
 */
async function readProcUsage(pid: number): Promise<{ rss: number; cpuMs: number } | null> {
  try {
    const [status, stat] = await Promise.all([
      readFile(`/proc/${pid}/status`, 'utf8'),
      readFile(`/proc/${pid}/stat`, 'utf8'),
    ]);
    // The high-water mark, not the current RSS: a peak between two samples still counts.
    const rssKb = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
    // Fields after the command name (which may hold spaces): state is the 3rd, utime the 14th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    if (rssKb === undefined || !Number.isFinite(ticks)) return null;
    return { rss: Number(rssKb) * 1024, cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND };
  } catch {
    return null;
  }
}

/** Whether a child's standard error says V8 ran out of heap (the `--max-old-space-size` ceiling). */
function isHeapOom(stderrTail: string): boolean {
  return /heap out of memory|Reached heap limit|Ineffective mark-compacts near heap limit/.test(
    stderrTail,
  );
}

/**
 * Runs one attempt in its own Node.js process, forked from {@link CHILD_MODULE}: the child imports
 * the task module by its path and runs it; its context's calls (progress, step, log, helpers.query)
 * come back over IPC and are replayed on `ctx`, and `ctx.signal` aborting is passed on. Every
 * {@link LIMIT_SAMPLE_MS} ms the worker reads the child's RSS and CPU time (Linux: /proc, which
 * works even while the task blocks its event loop; elsewhere: the child's own reports) and kills it
 * with SIGKILL when it is over a limit. A V8 heap exhaustion (the heap ceiling is the memory limit)
 * counts as going over the memory limit; any other exit before an outcome is a TaskProcessError.
 */
export function runIsolatedAttempt(options: IsolatedAttemptOptions): IsolatedAttempt {
  const { type, limits, ctx, helpers, usage, steps } = options;
  let child: ChildProcess | undefined;
  let stderrTail = '';
  let heapOom = false;
  let settled = false;
  let overLimit: ResourceLimitError | null = null;
  let sampling = false;
  let procAvailable = process.platform === 'linux';
  let resolveResult!: (value: unknown) => void;
  let rejectResult!: (error: Error) => void;
  const result = new Promise<unknown>((resolve, reject) => {
    resolveResult = resolve;
    rejectResult = reject;
  });

  // Started first so that kill() stops it whatever happens next; a sample waits for the pid.
  const sampleMs = options.sampleMs ?? LIMIT_SAMPLE_MS;
  const sampler = setInterval(() => void sample(), sampleMs);
  const kill = () => {
    clearInterval(sampler);
    ctx.signal.removeEventListener('abort', onAbort);
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const settle = (error: Error | null, value?: unknown) => {
    if (settled) return;
    settled = true;
    kill();
    if (error) rejectResult(error);
    else resolveResult(value);
  };
  const record = (rss: number, cpuMs: number) => {
    usage.peakRssBytes = Math.max(usage.peakRssBytes, rss);
    usage.cpuMs = Math.max(usage.cpuMs, Math.round(cpuMs));
    if (settled || overLimit) return;
    if (limits.memoryBytes !== null && rss > limits.memoryBytes)
      overLimit = new ResourceLimitError('memory', rss, limits.memoryBytes, type);
    else if (limits.cpuMs !== null && cpuMs > limits.cpuMs)
      overLimit = new ResourceLimitError('cpu', cpuMs, limits.cpuMs, type);
    if (overLimit) settle(overLimit);
  };
  const sample = async () => {
    if (sampling || settled || !procAvailable || child?.pid === undefined) return;
    sampling = true;
    try {
      const figures = await readProcUsage(child.pid);
      if (figures) record(figures.rss, figures.cpuMs);
      else if (child.exitCode === null && child.signalCode === null) procAvailable = false;
    } finally {
      sampling = false;
    }
  };
  const onAbort = () => {
    const reason: unknown = ctx.signal.reason;
    const err = reason instanceof Error ? reason : new Error(String(reason));
    const props: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(err))
      if (value === null || ['string', 'number', 'boolean'].includes(typeof value))
        props[key] = value;
    if (child?.connected)
      child.send({ kind: 'abort', reason: { name: err.name, message: err.message, props } });
  };

  try {
    child = fork(CHILD_MODULE, [], {
      execArgv: childExecArgv(limits),
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
  } catch (error) {
    settle(new TaskProcessError(`could not start the task's process: ${(error as Error).message}`));
    return { result, kill };
  }
  usage.peakRssBytes = 0;
  usage.cpuMs = 0;
  child.stderr!.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4096);
    // Checked as it arrives: V8's native stack trace follows the line and may push it out of the tail.
    heapOom ||= isHeapOom(stderrTail);
  });
  child.on('error', (error) =>
    settle(new TaskProcessError(`the task's process failed: ${error.message}`)),
  );
  child.on('message', (message: ChildMessage) => {
    switch (message.kind) {
      case 'ready': {
        const run: ParentMessage = {
          kind: 'run',
          file: options.file,
          payload: options.payload,
          job: ctx.job,
          attempt: ctx.attempt,
          gwJob: helpers.job,
          selfReport: procAvailable ? 0 : sampleMs,
        };
        try {
          child.send(run);
        } catch (error) {
          // The payload or the job row holds something that cannot be cloned (a function).
          settle(
            new TaskProcessError(
              `could not pass the job to the task's process: ${(error as Error).message}`,
            ),
          );
          break;
        }
        if (ctx.signal.aborted) onAbort();
        else ctx.signal.addEventListener('abort', onAbort, { once: true });
        break;
      }
      case 'usage':
        record(message.rss, message.cpuUs / 1000);
        break;
      case 'call':
        void answer(message, ctx, helpers, steps).then((reply) => {
          if (!child.connected || settled) return;
          try {
            child.send(reply);
          } catch (error) {
            const text = `cannot pass the answer to the task's process: ${(error as Error).message}`;
            child.send({
              kind: 'reply',
              id: message.id,
              ok: false,
              error: { name: 'Error', message: text },
            });
          }
        });
        break;
      case 'done':
        // Its own final figures: its peak RSS (VmHWM), and CPU time to the microsecond.
        record(Math.max(message.usage.rss, message.usage.maxRss), message.usage.cpuUs / 1000);
        if (overLimit) break;
        if (message.ok)
          settle(null, message.resultJson === null ? undefined : JSON.parse(message.resultJson));
        else settle(fromRemote(message.error));
        break;
    }
  });
  child.on('exit', (code, signal) => {
    if (settled) return;
    if (heapOom && limits.memoryBytes !== null) {
      settle(new ResourceLimitError('memory', usage.peakRssBytes, limits.memoryBytes, type, true));
      return;
    }
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const tail = stderrTail.trim().split('\n').slice(-3).join(' | ');
    settle(
      new TaskProcessError(
        `the task's process ${how} before the attempt ended${tail ? `: ${tail.slice(0, 500)}` : ''}`,
      ),
    );
  });
  return { result, kill };
}

/** Rebuilds a task's error from the child: same name, message, stack and plain fields. */
function fromRemote(remote: RemoteError): Error {
  const error = new Error(remote.message);
  Object.assign(error, remote.props ?? {});
  Object.defineProperty(error, 'name', { value: remote.name, configurable: true, writable: true });
  error.stack = remote.stack ?? `${remote.name}: ${remote.message}`;
  if (remote.permanent) Object.assign(error, { permanent: true });
  return error;
}

/** Does what the child's context asked, on the worker's side, and says how it went. */
async function answer(
  message: Extract<ChildMessage, { kind: 'call' }>,
  ctx: TaskContext<unknown>,
  helpers: JobHelpers,
  steps: DurableSteps | undefined,
): Promise<ParentMessage> {
  const { id, method, args } = message;
  try {
    let value: unknown;
    switch (method) {
      case 'progress':
        await ctx.progress(args[0] as ProgressValue, args[1] as string | undefined);
        break;
      case 'step':
        await ctx.step(args[0] as string);
        break;
      case 'log': {
        // The step the line carries is the worker's context's: the child's step() and progress()
        // calls reach it first, in order.
        const [level, text, data] = args as [JobEventLevel, string, unknown];
        await ctx.log(level, text, data);
        break;
      }
      case 'query': {
        const res = await helpers.query(args[0] as string, args[1] as unknown[]);
        value = { rows: res.rows, rowCount: res.rowCount };
        break;
      }
      // A durable step's function runs in the child, between its begin and its end.
      case 'stepBegin':
        if (!steps) throw new Error('durable steps are not available here');
        value = await steps.begin(args[0] as string);
        break;
      case 'stepEnd':
        if (!steps) throw new Error('durable steps are not available here');
        await steps.complete(args[0] as string, args[1] as string | null);
        break;
      case 'sleep':
        await ctx.sleep(args[0] as Duration, { name: args[1] as string | undefined });
        break;
      case 'waitFor':
        value = await ctx.waitFor(
          args[0] as string,
          args[1] as { timeout?: Duration; name?: string },
        );
        break;
      case 'parents':
        value = await ctx.parents();
        break;
      case 'getQueueName':
        value = (await helpers.getQueueName()) ?? null;
        break;
      case 'logger': {
        const [level, text] = args as ['debug' | 'info' | 'warn' | 'error', string];
        helpers.logger[level](text);
        break;
      }
      default:
        throw new Error(`unknown call ${method}`);
    }
    return { kind: 'reply', id, ok: true, value };
  } catch (error) {
    const err = error as Error;
    // Plain fields too, so the child rebuilds jobdeck's errors (WaitTimeoutError's event, …).
    const props: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(err))
      if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) props[key] = v;
    return {
      kind: 'reply',
      id,
      ok: false,
      error: { name: err.name, message: err.message, props },
    };
  }
}
