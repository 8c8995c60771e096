import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** What an installed package's `jobdeck` runs: the compiled CLI. */
const BUILT_CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** What the bench's drain child runs: bench/drain-child.ts compiled with tsconfig.bench.json. */
export const BUILT_DRAIN_CHILD = path.join(
  ROOT,
  '.jobdeck',
  'bench-build',
  'bench',
  'drain-child.js',
);

/** The newest modification time of the .ts files under `dirs` and of the compiler configs. */
function newestSource(dirs: readonly string[]): number {
  let newest = 0;
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(file);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(file).mtimeMs);
    }
  };
  for (const dir of dirs) visit(path.join(ROOT, dir));
  for (const config of ['tsconfig.json', 'tsconfig.build.json', 'tsconfig.bench.json'])
    newest = Math.max(newest, statSync(path.join(ROOT, config)).mtimeMs);
  return newest;
}

/** Runs the TypeScript compiler on `config` unless `output` is newer than every file of `dirs`. */
function buildUnlessFresh(config: string, output: string, dirs: readonly string[]): boolean {
  if (existsSync(output) && statSync(output).mtimeMs >= newestSource(dirs)) return false;
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', config], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(`building (tsc -p ${config}) failed:\n${result.stdout}${result.stderr}`.trim());
  return true;
}

/**
 * Builds dist/ (`npm run build`'s compiler run) unless it is newer than every source file, so the
 * bench times what an installed package runs and never a stale build. Returns whether it built.
 */
export function ensureBuilt(): boolean {
  return buildUnlessFresh('tsconfig.build.json', BUILT_CLI, ['src', 'tasks']);
}

/**
 * Builds the drain child (tsconfig.bench.json) unless it is newer than every source file: the
 * drained workers then run compiled JavaScript, as an installed package's worker does. Returns
 * whether it built.
 */
export function ensureDrainChildBuilt(): boolean {
  return buildUnlessFresh('tsconfig.bench.json', BUILT_DRAIN_CHILD, ['src', 'tasks', 'bench']);
}

/** Wall time of one process from spawn to exit, in ms; fails unless it exits 0. */
function timeProcess(args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; out: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code === 0) resolve({ ms, out });
      else reject(new Error(`node ${args.join(' ')} exited with ${code}: ${err.trim()}`));
    });
  });
}

/** Medians of cold process starts: the built CLI's `jobs --json`, and bare `node -e 0`. */
export interface CliStartTimes {
  jobsMs: number;
  nodeMs: number;
  runs: number;
}

/**
 * How long `jobdeck jobs --json` takes as a fresh process, the way an operator or a script runs
 * it: the compiled CLI (dist/) against `url`, each run a new `node`, one run of each first (not
 * counted) to warm the disk cache and Node's compile cache, then `runs` of each in turn (CLI,
 * `node -e 0`, CLI, …) so a drift in the machine's speed touches both alike. `node -e 0` is the
 * floor no CLI written for Node gets under.
 */
export async function cliStartTimes(url: string, runs = 5): Promise<CliStartTimes> {
  // Only what the CLI reads: a developer's JOBDECK_* settings must not change what is timed.
  const env = {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? '',
    DATABASE_URL: url,
  };
  const jobs = [BUILT_CLI, 'jobs', '--json'];
  const node = ['-e', '0'];
  const listed = JSON.parse((await timeProcess(jobs, env)).out) as unknown;
  if (!Array.isArray(listed)) throw new Error('jobdeck jobs --json did not print a JSON array');
  await timeProcess(node, env);
  const jobsMs: number[] = [];
  const nodeMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    jobsMs.push((await timeProcess(jobs, env)).ms);
    nodeMs.push((await timeProcess(node, env)).ms);
  }
  return { jobsMs: median(jobsMs), nodeMs: median(nodeMs), runs };
}
