import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** The CLI as a child process, with only the given environment (plus PATH and HOME). */
function spawnCli(args: string[], env: Record<string, string>): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--conditions=jobdeck-source', MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the `jobdeck` CLI in a child process with the given environment. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    child.stdin.end();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running CLI command (e.g. `worker`) and resolves once it prints "ready". */
export function startCli(
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs?: number } = {},
): Promise<{
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
}> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    child.stdin.end();
    let output = '';
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`jobdeck ${args.join(' ')} did not get ready:\n${output}`));
    }, options.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(': ready')) {
        clearTimeout(timer);
        resolve({ child, output: () => output, exited });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`jobdeck ${args.join(' ')} exited with ${code}:\n${output}`));
    });
  });
}

/**
 * `jobdeck worker` processes for a test: `start(n)` starts n together (so that no one process
 * drains the queue before the others are up), `stop()` stops every one started (afterEach).
 */
export function workerProcesses(env: () => Record<string, string>): {
  start(n: number): Promise<void>;
  stop(): Promise<void>;
} {
  const workers: Awaited<ReturnType<typeof startCli>>[] = [];
  return {
    async start(n) {
      const started = await Promise.all(
        Array.from({ length: n }, () => startCli(['worker'], env(), { timeoutMs: 60_000 })),
      );
      workers.push(...started);
    },
    async stop() {
      const left = workers.splice(0);
      for (const worker of left) worker.child.kill('SIGTERM');
      await Promise.all(left.map((worker) => worker.exited.catch(() => null)));
    },
  };
}

/**
 * The environment of a `jobdeck worker` (or `serve`) process a test starts on its database: the
 * test's tasks folder, no crontab, quick polling, quiet logs; `overrides` add or replace settings
 * (JOBDECK_CONCURRENCY, JOBDECK_DATA_DIR, …).
 */
export function workerEnv(
  databaseUrl: string,
  tasksDir: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    JOBDECK_TASKS_DIR: tasksDir,
    JOBDECK_CRONTAB: path.join(ROOT, 'test/fixtures/no-crontab'),
    JOBDECK_POLL_INTERVAL_MS: '200',
    JOBDECK_LOG_LEVEL: 'error',
    ...overrides,
  };
}
