import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const APP_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Polls until `check` returns a value other than undefined/null/false, or fails after the deadline. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | null | false>,
  { timeoutMs = 30_000, what = 'the condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts `jobdeck worker` from the installed package's bin, as the application's Procfile would,
 * and waits until it says it is running.
 */
export async function startWorkerProcess(
  databaseUrl: string,
  options: { cwd?: string; tasksDir?: string; env?: Record<string, string> } = {},
): Promise<ChildProcess> {
  const cwd = options.cwd ?? APP_ROOT;
  const bin = path.join(cwd, 'node_modules', '.bin', 'jobdeck');
  const child = spawn(bin, ['worker', '--tasks', options.tasksDir ?? 'tasks'], {
    cwd,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '/tmp',
      DATABASE_URL: databaseUrl,
      JOBDECK_CRONTAB: 'crontab',
      JOBDECK_HEARTBEAT_INTERVAL_MS: '200',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => (output += chunk.toString());
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`jobdeck worker exited:\n${output}`);
      return output.includes('jobdeck worker: ready');
    },
    { what: `jobdeck worker to start (output so far:\n${output})` },
  );
  return child;
}

/** Stops a child process with SIGTERM and waits for it to exit. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
