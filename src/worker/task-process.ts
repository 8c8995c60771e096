/**
 * The entry point of the child process that runs one attempt of a task type with `limits`
 * (src/worker/isolated-attempt.ts forks it). It imports the task's module by its file path, runs
 * it with a context whose calls go to the parent over IPC, and sends back the outcome. It imports
 * as little as it can: every module it loads is start-up time and memory counted against the
 * task's limit.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { JobHelpers } from 'graphile-worker';
import {
  DuplicateStepError,
  JobCancelledError,
  JobParkedError,
  JobTimeoutError,
  PermanentJobError,
  RateLimitedError,
  StepResultError,
  WaitTimeoutError,
  WorkerShutdownError,
  AttemptLostError,
} from '../errors.ts';
import type { Duration } from '../jobs/policy.ts';
import type { ParentResult } from '../jobs/graph.ts';
import { stepResultJson, stepValue, type StepBegin } from './steps.ts';
import type { JobEventLevel } from '../db/types.ts';
import type { AnyTaskDefinition, ProgressValue, TaskContext } from '../jobs/task.ts';
import type { ChildMessage, ParentMessage, RemoteError } from './isolated-attempt.ts';
import { checkLogLine, checkStep, progressPatch } from './task-context.ts';

const controller = new AbortController();
const pending = new Map<
  number,
  { resolve: (value: unknown) => void; reject: (e: Error) => void }
>();
let nextCall = 1;

function send(message: ChildMessage): void {
  process.send!(message);
}

/** Asks the parent to do something for the task (write progress, run a query); resolves with its answer. */
function call(method: string, args: unknown[]): Promise<unknown> {
  const id = nextCall++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    send({ kind: 'call', id, method, args });
  });
}

/** The error the parent's signal aborted with, as the same class the task would see in-process. */
function abortReason(reason: RemoteError): Error {
  switch (reason.name) {
    case 'JobCancelledError':
      return new JobCancelledError((reason.props?.reason as string | null | undefined) ?? null);
    case 'JobTimeoutError':
      return new JobTimeoutError(Number(reason.props?.timeoutMs ?? 0));
    case 'WorkerShutdownError':
      return new WorkerShutdownError();
    case 'AttemptLostError':
      return new AttemptLostError();
    default:
      return Object.assign(new Error(reason.message), { name: reason.name });
  }
}

/** An error as data the parent rebuilds: message, stack, `permanent`, and its plain own fields. */
function toRemote(error: unknown): RemoteError {
  const err = error instanceof Error ? error : new Error(String(error));
  const props: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(err)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value))
      props[key] = value;
  }
  return {
    name: err.name,
    message: err.message,
    stack: err.stack ?? null,
    permanent: err instanceof PermanentJobError || props.permanent === true,
    props,
  };
}

/** An error the worker answered a call with, as the class the task would see in-process. */
function replyError(remote: RemoteError): Error {
  const props = remote.props ?? {};
  const text = (key: string) => String(props[key] ?? '');
  switch (remote.name) {
    case 'WaitTimeoutError':
      return new WaitTimeoutError(text('event'), text('step'));
    case 'DuplicateStepError':
      return new DuplicateStepError(text('step'));
    case 'StepResultError':
      return Object.assign(new StepResultError(text('step'), ''), { message: remote.message });
    case 'JobParkedError':
      return Object.assign(new JobParkedError(new Date(), ''), { message: remote.message });
    default:
      return Object.assign(new Error(remote.message), { name: remote.name });
  }
}

function unavailable(name: string): never {
  throw new Error(
    `helpers.${name} is not available to a task with limits: it runs in its own process (use helpers.query)`,
  );
}

/** Graphile Worker's helpers, the parts that make sense across a process boundary. */
function remoteHelpers(job: unknown): JobHelpers {
  const logger = Object.fromEntries(
    (['debug', 'info', 'warn', 'error'] as const).map((level) => [
      level,
      (message: string) => void call('logger', [level, String(message)]).catch(() => {}),
    ]),
  );
  const known: Record<string, unknown> = {
    job,
    logger,
    abortSignal: controller.signal,
    query: (text: string, values?: unknown[]) => call('query', [text, values ?? []]),
    getQueueName: () => call('getQueueName', []),
  };
  return new Proxy(known, {
    get(target, name) {
      if (typeof name !== 'string' || name in target) return target[name as string];
      if (name === 'then') return undefined;
      return () => unavailable(name);
    },
  }) as unknown as JobHelpers;
}

async function loadRun(file: string): Promise<AnyTaskDefinition['run']> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  const value = mod.default;
  if (typeof value === 'function') return value as AnyTaskDefinition['run'];
  if (value && typeof (value as AnyTaskDefinition).run === 'function')
    return (value as AnyTaskDefinition).run.bind(value);
  throw new Error(`${file} must \`export default defineTask({ run(ctx) { … } })\``);
}

/**
 * This process's peak RSS: the kernel's high-water mark of its memory since it started (VmHWM).
 * Not `resourceUsage().maxRSS`, which after fork and exec keeps the worker's own peak on Linux.
 */
function peakRss(): number {
  try {
    const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb !== undefined) return Number(kb) * 1024;
  } catch {
    // No /proc (macOS): the current figure is the best there is.
  }
  return process.memoryUsage.rss();
}

function usage(): { rss: number; maxRss: number; cpuUs: number } {
  const cpu = process.cpuUsage();
  return { rss: process.memoryUsage.rss(), maxRss: peakRss(), cpuUs: cpu.user + cpu.system };
}

async function runAttempt(message: Extract<ParentMessage, { kind: 'run' }>): Promise<void> {
  if (message.selfReport)
    setInterval(() => send({ kind: 'usage', ...usage() }), message.selfReport).unref();
  let currentStep: string | null = null;
  const ctx: TaskContext<unknown> = {
    payload: message.payload,
    job: message.job,
    attempt: message.attempt,
    signal: controller.signal,
    helpers: remoteHelpers(message.gwJob),
    async progress(value: ProgressValue, step?: string) {
      progressPatch(value);
      if (step !== undefined) currentStep = checkStep(step);
      await call('progress', step === undefined ? [value] : [value, step]);
    },
    step: (async (name: string, run?: () => unknown) => {
      if (run === undefined) {
        currentStep = checkStep(name);
        await call('step', [currentStep]);
        return;
      }
      if (typeof run !== 'function')
        throw new TypeError(`step "${String(name)}": the second argument must be a function`);
      // The worker decides (stored result, duplicate name) and stores; the function runs here.
      const begun = (await call('stepBegin', [name])) as StepBegin;
      currentStep = name;
      if (begun.done) return begun.result;
      const json = stepResultJson(name, await run());
      await call('stepEnd', [name, json]);
      return stepValue(json);
    }) as TaskContext<unknown>['step'],
    async sleep(duration: Duration, options?: { name?: string }) {
      await call('sleep', [duration, options?.name]);
    },
    parents: () => call('parents', []) as Promise<ParentResult[]>,
    rateLimited(retryAfter: Duration): never {
      throw new RateLimitedError({ retryAfter });
    },
    waitFor: ((event: string, options?: { timeout?: Duration; name?: string }) =>
      call('waitFor', [event, options ?? {}])) as TaskContext<unknown>['waitFor'],
    async log(level: JobEventLevel, text: string, data?: unknown) {
      checkLogLine(level, text);
      // As JSON, like the in-process log stores it: whatever cannot be cloned is dropped here.
      const json = data === undefined ? undefined : (JSON.parse(JSON.stringify(data)) as unknown);
      await call('log', [level, text, json, currentStep]);
    },
  };
  try {
    const run = await loadRun(message.file);
    const value = await run(ctx);
    let resultJson: string | null;
    try {
      resultJson = value === undefined ? null : (JSON.stringify(value) ?? null);
    } catch (error) {
      throw new PermanentJobError(`the task's result is not JSON: ${(error as Error).message}`);
    }
    send({ kind: 'done', ok: true, resultJson, usage: usage() });
  } catch (error) {
    send({ kind: 'done', ok: false, error: toRemote(error), usage: usage() });
  }
}

process.on('message', (message: ParentMessage) => {
  if (message.kind === 'run') void runAttempt(message);
  else if (message.kind === 'abort') {
    if (!controller.signal.aborted) controller.abort(abortReason(message.reason));
  } else if (message.kind === 'reply') {
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (!waiter) return;
    if (message.ok) waiter.resolve(message.value);
    else waiter.reject(replyError(message.error));
  }
});
// The worker is gone (it crashed or was killed): nobody will record this attempt, so stop.
process.on('disconnect', () => process.exit(1));
send({ kind: 'ready' });
