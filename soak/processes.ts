import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORKER_NODE_FLAGS } from '../src/worker/node-flags.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'src/cli/main.ts');

export type ProcessKind = 'worker' | 'serve';

/** One `jobdeck worker` or `jobdeck serve` child process. */
export interface JobdeckProcess {
  readonly name: string;
  readonly kind: ProcessKind;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Set once the process has exited (for whatever reason). */
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null;
  /** True when the soak itself killed or stopped it (an exit is then expected). */
  expectedExit: boolean;
  /** Resolves when it has exited. */
  readonly exited: Promise<void>;
}

export interface SpawnOptions {
  name: string;
  kind: ProcessKind;
  /** The child's whole environment. */
  env: Record<string, string>;
  /** stdout and stderr go here. */
  logFile: string;
  /** Longest wait for "ready" on stdout. */
  readyTimeoutMs?: number;
}

/**
 * Starts `node <WORKER_NODE_FLAGS> src/cli/main.ts <kind>` (as `npm start` does) with `env` and waits until it prints that it is ready.
 * Its output goes to `logFile`, each line stamped with the time it arrived.
 */
export async function spawnJobdeck(options: SpawnOptions): Promise<JobdeckProcess> {
  const child = spawn(
    process.execPath,
    ['--conditions=jobdeck-source', ...WORKER_NODE_FLAGS, CLI, options.kind],
    {
      cwd: ROOT,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const log: WriteStream = createWriteStream(options.logFile, { flags: 'a' });
  let resolveExited!: () => void;
  const proc: JobdeckProcess = {
    name: options.name,
    kind: options.kind,
    child,
    pid: child.pid ?? -1,
    exit: null,
    expectedExit: false,
    exited: new Promise<void>((resolve) => (resolveExited = resolve)),
  };
  child.on('exit', (code, signal) => {
    proc.exit = { code, signal, at: Date.now() };
    resolveExited();
  });
  child.on('close', () => log.end());
  // Each line gets the time it arrived, so a child's log reads against the soak's fault times.
  const stamp = (stream: NodeJS.ReadableStream) => {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) log.write(`${new Date().toISOString()} ${line}\n`);
    });
    stream.on('end', () => {
      if (partial) log.write(`${new Date().toISOString()} ${partial}\n`);
    });
  };
  stamp(child.stdout!);
  stamp(child.stderr!);
  let stdout: string | null = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`${options.name} was not ready within ${options.readyTimeoutMs ?? 60_000} ms`),
        ),
      options.readyTimeoutMs ?? 60_000,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      if (stdout === null) return;
      stdout += chunk.toString();
      if (/jobdeck (worker|serve): ready/.test(stdout)) {
        stdout = null;
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${options.name} exited (${signal ?? code}) before it was ready; see ${options.logFile}`,
        ),
      );
    });
  });
  try {
    await ready;
  } catch (error) {
    await stopProcess(proc, 2000);
    throw error;
  }
  return proc;
}

/** kill -9: no shutdown, no last heartbeat, nothing flushed. */
export function killHard(proc: JobdeckProcess): number {
  proc.expectedExit = true;
  proc.child.kill('SIGKILL');
  return Date.now();
}

/**
 * Stops a process the way an operator would: SIGTERM, and SIGKILL if it has not exited after
 * `graceMs`.
 */
export async function stopProcess(proc: JobdeckProcess, graceMs: number): Promise<void> {
  proc.expectedExit = true;
  if (proc.exit) return;
  proc.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), graceMs);
  });
  const late = await Promise.race([proc.exited.then(() => false), timedOut]);
  clearTimeout(timer);
  if (late && !proc.exit) {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}
