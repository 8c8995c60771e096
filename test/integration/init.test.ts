import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { ROOT, runCli, startCli } from '../helpers/cli.ts';
import { createTestDatabase, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

/**
 * `jobdeck init` in an application's folder, and `--tasks` / `--crontab`: the example task it
 * writes loads and runs, from a worker in this process and from a `jobdeck worker` process.
 */

const made: string[] = [];

/** An application folder: a package.json of the given module type, jobdeck installed in it. */
async function appFolder(type: 'module' | 'commonjs'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-init-'));
  made.push(dir);
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', type }));
  // What `npm install jobdeck` gives the application: 'jobdeck' resolves from its tasks.
  await mkdir(path.join(dir, 'node_modules'));
  await symlink(ROOT, path.join(dir, 'node_modules', 'jobdeck'), 'dir');
  return dir;
}

async function contents(dir: string, files: string[]): Promise<Record<string, string>> {
  const entries = await Promise.all(
    files.map(async (file) => [file, await readFile(path.join(dir, file), 'utf8')] as const),
  );
  return Object.fromEntries(entries);
}

const FILES = ['tasks/hello.ts', 'crontab', '.env.example', '.gitignore'];

describe('jobdeck init', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    jobdeck = createJobdeck({ pool: t.pool });
  });
  afterEach(async () => {
    expect(await stopWorkers(), 'a test left a worker running').toBe(0);
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
    await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('makes tasks/hello.ts, a crontab and the .env.example and .gitignore lines', async () => {
    const dir = await appFolder('module');
    const result = await runCli(['init', '--dir', dir], {});
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    for (const file of FILES) expect(result.stdout).toMatch(new RegExp(`made\\s+${file}\\s`));
    expect(result.stdout).toContain('Next steps:');
    expect(result.stdout).toMatch(/npx jobdeck migrate[\s\S]*worker[\s\S]*enqueue hello/);

    const files = await contents(dir, FILES);
    expect(files['tasks/hello.ts']).toMatch(/^import \{ defineTask, sleep, z \} from 'jobdeck';$/m);
    expect(files['tasks/hello.ts']).not.toMatch(/from '(?!jobdeck')/);
    expect(files['crontab']).toMatch(/^0 \* \* \* \* prune_jobs \?fill=2h$/m);
    expect(files['crontab']).toMatch(/^# .* hello /m);
    for (const name of ['DATABASE_URL', 'JOBDECK_TASKS_DIR', 'JOBDECK_JWT_SECRET'])
      expect(files['.env.example']).toMatch(new RegExp(`^${name}=`, 'm'));
    expect(files['.gitignore']).toMatch(/^\.jobdeck\/$/m);
  });

  it('overwrites nothing on a second run, and says what it left', async () => {
    const dir = await appFolder('module');
    expect((await runCli(['init', '--dir', dir], {})).code).toBe(0);
    // the application has since changed the example
    await writeFile(path.join(dir, 'tasks/hello.ts'), '// mine now\n');
    const before = await contents(dir, FILES);

    const again = await runCli(['init', '--dir', dir], {});
    expect(again.code).toBe(0);
    expect(await contents(dir, FILES)).toEqual(before);
    for (const file of FILES) expect(again.stdout).toMatch(new RegExp(`left\\s+${file}\\s`));
    expect(again.stdout).not.toMatch(/^\s+(made|added to)\s/m);
  });

  it('adds to an existing .env.example only the variables it lacks', async () => {
    const dir = await appFolder('module');
    const own = 'APP_SECRET=shh\n# where the app keeps its data\nDATABASE_URL=postgres://app/app\n';
    await writeFile(path.join(dir, '.env.example'), own);
    const result = await runCli(['init', '--dir', dir], {});
    expect(result.stdout).toMatch(
      /added to\s+\.env\.example\s+JOBDECK_DATA_DIR, JOBDECK_TASKS_DIR/,
    );
    const env = await readFile(path.join(dir, '.env.example'), 'utf8');
    expect(env.startsWith(own)).toBe(true);
    expect(env.match(/^DATABASE_URL=/gm)).toHaveLength(1);
    expect(env).toMatch(/^JOBDECK_TASKS_DIR=tasks$/m);
  });

  it('runs the example task through a worker, reporting its steps and honouring its signal', async () => {
    const dir = await appFolder('module');
    expect((await runCli(['init', '--dir', dir], {})).code).toBe(0);
    const tasks = await loadTasks(path.join(dir, 'tasks'));
    expect([...tasks.keys()].sort()).toEqual(['deliver_webhook', 'hello', 'prune_jobs']);
    await registerTasks(t, tasks);
    // a long grace: a job that stops soon after its cancel stopped because of its signal
    const worker = await runTestWorker(t, tasks, { config: { cancelGraceMs: 120_000 } });
    try {
      const job = await jobdeck.enqueueJob('hello', { stepDelayMs: 20 });
      const done = await waitForStatus(jobdeck, job.id, 'succeeded');
      expect(done).toMatchObject({
        progress: 100,
        current_step: 'finish',
        result: { greeting: 'Hello, world!' },
      });
      const events = await jobdeck.getJobEvents(job.id);
      expect(events.map((event) => event.message)).toContain('Hello, world!');

      const slow = await jobdeck.enqueueJob('hello', { name: 'Ada', stepDelayMs: 60_000 });
      await waitForStatus(jobdeck, slow.id, 'running');
      await jobdeck.cancelJob(slow.id, 'test');
      await waitForStatus(jobdeck, slow.id, 'cancelled', { timeoutMs: 30_000 });
    } finally {
      await worker.stop();
    }
  });

  it('writes tasks/hello.mts under a CommonJS package.json; `worker --tasks --crontab` runs it', async () => {
    const dir = await appFolder('commonjs');
    const init = await runCli(['init', '--dir', dir], {});
    expect(init.stdout).toMatch(/made\s+tasks\/hello\.mts\s.*"type": "commonjs"/);
    expect(existsSync(path.join(dir, 'tasks/hello.ts'))).toBe(false);

    const env = {
      DATABASE_URL: t.url,
      // overridden by the flags: neither exists
      JOBDECK_TASKS_DIR: path.join(dir, 'no-such-tasks'),
      JOBDECK_CRONTAB: path.join(dir, 'no-such-crontab'),
      JOBDECK_POLL_INTERVAL_MS: '200',
      JOBDECK_LOG_LEVEL: 'warn',
    };
    // relative to the working directory (the CLI helper runs in the repository's root)
    const flags = ['--tasks', path.relative(ROOT, path.join(dir, 'tasks'))];
    flags.push('--crontab', path.join(dir, 'crontab'));
    const migrated = await runCli(['migrate', ...flags], env);
    expect(migrated.stderr).toBe('');
    expect(migrated.stdout).toMatch(/3 task types registered; 1 schedule in /);

    const worker = await startCli(['worker', ...flags], env);
    try {
      const enqueued = await runCli(['enqueue', 'hello', '{"name":"Ada","stepDelayMs":20}'], env);
      expect(enqueued.stderr).toBe('');
      const id = enqueued.stdout.trim();
      const watched = await runCli(['watch', id, '--json'], env);
      expect(watched.code).toBe(0);
      const last = JSON.parse(watched.stdout.trim().split('\n').at(-1)!) as unknown;
      expect(last).toMatchObject({ status: 'succeeded', result: { greeting: 'Hello, Ada!' } });
    } finally {
      worker.child.kill('SIGTERM');
    }
    expect(await worker.exited).toBe(0);
    // Node ran the .mts file as ESM without a warning about its module type
    expect(worker.output()).not.toMatch(/MODULE_TYPELESS|Failed to load the ES module/);
  });

  it('refuses a missing tasks folder or crontab in one line, before opening a database', async () => {
    // nothing listens there: the command must stop before connecting
    const env = { DATABASE_URL: 'postgres://127.0.0.1:1/none' };
    const missing = await runCli(['worker', '--tasks', 'no/such/tasks'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      `jobdeck: the tasks folder ${path.join(ROOT, 'no/such/tasks')} (--tasks) does not exist; create it, or run \`jobdeck init\`\n`,
    );
    const crontab = await runCli(['migrate', '--tasks', 'tasks', '--crontab', 'no-such'], env);
    expect(crontab.code).toBe(2);
    expect(crontab.stderr).toBe(
      `jobdeck: the crontab ${path.join(ROOT, 'no-such')} (--crontab) does not exist\n`,
    );
    const fromEnv = await runCli(['migrate'], { ...env, JOBDECK_TASKS_DIR: '/no/such/dir' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(
      /^jobdeck: the tasks folder \/no\/such\/dir \(JOBDECK_TASKS_DIR/,
    );
    for (const args of [
      ['start', '--tasks'],
      ['worker', '--crontab='],
      ['serve', '--crontab', 'x'],
    ]) {
      const result = await runCli(args, env);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/Usage: jobdeck <command>/);
    }
  });
});
