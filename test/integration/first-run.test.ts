import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findEmbeddedPostgres } from '../../src/db/embedded.ts';
import { ROOT, runCli, startCli } from '../helpers/cli.ts';
import { waitFor } from '../helpers/db.ts';

/**
 * A new user's first minutes (issue 19): `npm start` and a CLI command in a second shell on a new
 * data folder, and stopping `npm start` the way a process manager does. Each test has a data
 * folder of its own and no DATABASE_URL, so each brings up its own embedded PostgreSQL.
 */

const folders: string[] = [];

async function newDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-first-run-'));
  await chmod(dir, 0o755); // the embedded server runs as an unprivileged user when we are root
  folders.push(dir);
  return dir;
}

function envFor(dataDir: string): Record<string, string> {
  return {
    JOBDECK_DATA_DIR: dataDir,
    JOBDECK_PORT: '0',
    JOBDECK_TASKS_DIR: path.join(ROOT, 'test/fixtures/tasks'),
    JOBDECK_CRONTAB: path.join(ROOT, 'test/fixtures/no-crontab'),
    JOBDECK_LOG_LEVEL: 'warn',
  };
}

/** Whether a process with this id exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterEach(async () => {
  for (const dir of folders.splice(0)) {
    // Whatever a failed test left running: stop it before removing its folder.
    const cluster = spawnSync('sh', ['-c', `ls -d ${dir}/*/ 2>/dev/null`]).stdout.toString();
    if (cluster && (await findEmbeddedPostgres(dir)) !== null)
      spawnSync('pkill', ['-f', `-D ${dir}`]);
    await rm(dir, { recursive: true, force: true });
  }
});

describe('the first run', () => {
  it('runs jobdeck start and a CLI command started together on a new data folder', async () => {
    const dataDir = await newDataDir();
    const env = envFor(dataDir);
    const [start, jobs] = await Promise.all([
      startCli(['start'], env),
      runCli(['jobs', '--json'], env, { timeoutMs: 120_000 }),
    ]);
    try {
      expect(jobs.stderr).not.toMatch(/error|could not/i);
      expect(jobs.code).toBe(0);
      expect(JSON.parse(jobs.stdout)).toEqual([]);
      // Whichever of the two started the server, it is still up for `start`.
      expect(await findEmbeddedPostgres(dataDir)).not.toBeNull();
      const again = await runCli(['jobs', '--json'], env);
      expect(again.code).toBe(0);
    } finally {
      start.child.kill('SIGTERM');
      expect(await start.exited).toBe(0);
    }
    // The last process to let go of the server stopped it.
    expect(await findEmbeddedPostgres(dataDir)).toBeNull();
  });

  it('leaves no process behind when the npm start process gets SIGTERM', async () => {
    const dataDir = await newDataDir();
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...envFor(dataDir) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const npmExited = new Promise<void>((resolve) => npm.on('close', () => resolve()));
    await waitFor(() => output.includes('jobdeck start: ready'), {
      timeoutMs: 120_000,
      what: `npm start to be ready:\n${output}`,
    });
    // The node process npm started (directly, or under sh).
    const descendants = (pid: number): number[] => {
      const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)])
        .stdout.toString()
        .split('\n')
        .map((line) => Number(line.trim()))
        .filter((n) => n > 0);
      return children.flatMap((child) => [child, ...descendants(child)]);
    };
    const started = descendants(npm.pid!);
    expect(started.length).toBeGreaterThan(0);
    expect(await findEmbeddedPostgres(dataDir)).not.toBeNull();

    npm.kill('SIGTERM');
    await npmExited;
    await waitFor(
      async () =>
        started.every((pid) => !alive(pid)) && (await findEmbeddedPostgres(dataDir)) === null,
      { timeoutMs: 30_000, intervalMs: 200, what: 'jobdeck and its PostgreSQL to stop' },
    );
  });
});
