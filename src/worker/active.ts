import { AttemptLostError, JobCancelledError } from '../errors.ts';
import type { AttemptUsage } from './isolated-attempt.ts';

/**
 * The process's resident set and CPU time, read at most every {@link SAMPLE_MS} ms: a job's
 * figures are the process's anyway (see {@link ActiveJobs}), and reading them per job costs two
 * system calls each at thousands of jobs a second.
 */
const SAMPLE_MS = 100;
let sampledAt = 0;
let sampledRss = 0;
let sampledCpu: NodeJS.CpuUsage = { user: 0, system: 0 };

function refresh(): void {
  const now = performance.now();
  if (now - sampledAt < SAMPLE_MS && sampledAt !== 0) return;
  sampledAt = now;
  sampledRss = process.memoryUsage.rss();
  sampledCpu = process.cpuUsage();
}

/** The process's resident set size, at most {@link SAMPLE_MS} ms old. */
export function processRss(): number {
  refresh();
  return sampledRss;
}

function processCpu(): NodeJS.CpuUsage {
  refresh();
  return sampledCpu;
}

/** One attempt running in this process. */
export interface ActiveJob {
  readonly id: string;
  readonly type: string;
  readonly attempt: number;
  readonly controller: AbortController;
  /** Whether the row says `running` yet (see Tracker.mark); heartbeats cover marked jobs only. */
  marked: boolean;
  readonly startedAt: number;
  readonly cpuStart: NodeJS.CpuUsage;
  /** Highest process RSS seen while this attempt ran. */
  peakRssBytes: number;
  /**
   * The attempt's own figures when it runs in its own process (a task type with `limits`): then
   * they, not this process's, are the job's.
   */
  usage: AttemptUsage | null;
}

/** A resource sample of a running job, as the heartbeat writes it. */
export interface JobSample {
  id: string;
  rss: number;
  cpu_ms: number;
}

/**
 * The attempts this worker process is running, by job id: the heartbeat samples them and the
 * cancel listener aborts them. Node runs every job in one process, so memory is the process's
 * resident set while the job ran (exact with concurrency 1) and CPU is the process's CPU time
 * over the attempt.
 */
export class ActiveJobs {
  readonly #jobs = new Map<string, ActiveJob>();

  add(job: Omit<ActiveJob, 'startedAt' | 'cpuStart' | 'peakRssBytes' | 'usage'>): ActiveJob {
    const entry: ActiveJob = {
      ...job,
      usage: null,
      startedAt: Date.now(),
      cpuStart: processCpu(),
      peakRssBytes: processRss(),
    };
    this.#jobs.set(job.id, entry);
    return entry;
  }

  delete(id: string): void {
    this.#jobs.delete(id);
  }

  get size(): number {
    return this.#jobs.size;
  }

  /** The jobs whose row is marked running by this worker. */
  ids(): string[] {
    return [...this.#jobs.values()].filter((job) => job.marked).map((job) => job.id);
  }

  get(id: string): ActiveJob | undefined {
    return this.#jobs.get(id);
  }

  /** Aborts a running job's signal for a cancel; false when it does not run here. */
  cancel(id: string, reason: string | null): boolean {
    const job = this.#jobs.get(id);
    if (!job) return false;
    if (!job.controller.signal.aborted) job.controller.abort(new JobCancelledError(reason));
    return true;
  }

  /**
   * Aborts a job this worker lost (presumed dead and rescued elsewhere, or its running mark
   * refused) with AttemptLostError: the attempt is void, an interruption and never a cancel.
   */
  lose(id: string): boolean {
    const job = this.#jobs.get(id);
    if (!job) return false;
    if (!job.controller.signal.aborted) job.controller.abort(new AttemptLostError());
    return true;
  }

  /** Samples memory and CPU for every running job (and records the peak). */
  sample(): JobSample[] {
    const rss = processRss();
    return [...this.#jobs.values()]
      .filter((job) => job.marked)
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((job) => {
        if (job.usage) return { id: job.id, rss: job.usage.peakRssBytes, cpu_ms: job.usage.cpuMs };
        job.peakRssBytes = Math.max(job.peakRssBytes, rss);
        return { id: job.id, rss: job.peakRssBytes, cpu_ms: cpuMs(job) };
      });
  }
}

/** CPU time of the process since the attempt started, in ms (to within the sampling period). */
export function cpuMs(job: ActiveJob): number {
  const cpu = processCpu();
  const us = cpu.user - job.cpuStart.user + (cpu.system - job.cpuStart.system);
  return Math.max(0, Math.round(us / 1000));
}
