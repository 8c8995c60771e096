import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exampleTaskFile, missingEnvLines } from '../../src/cli/init-command.ts';
import { ENV_ENTRIES, ENV_HEADER } from '../../src/cli/init-templates.ts';
import { ROOT } from '../helpers/cli.ts';

const folders: string[] = [];
afterAll(() => Promise.all(folders.map((dir) => rm(dir, { recursive: true, force: true }))));

async function folder(packageJson?: object): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-init-unit-'));
  folders.push(dir);
  if (packageJson) await writeFile(path.join(dir, 'package.json'), JSON.stringify(packageJson));
  return dir;
}

describe("jobdeck init's .env.example lines", () => {
  it("are jobdeck's own .env.example lines, comments included", () => {
    const own = readFileSync(path.join(ROOT, '.env.example'), 'utf8').split('\n');
    for (const entry of ENV_ENTRIES) {
      const at = own.indexOf(entry.lines.at(-1)!);
      expect(at, `${entry.name} in .env.example`).toBeGreaterThan(0);
      expect(own.slice(at - entry.lines.length + 1, at + 1), entry.name).toEqual(entry.lines);
    }
  });

  it('are all added to an empty file, under one header line', () => {
    const { names, text } = missingEnvLines('');
    expect(names).toEqual(ENV_ENTRIES.map((entry) => entry.name));
    expect(text.startsWith(`${ENV_HEADER}\n# PostgreSQL`)).toBe(true);
    expect(text.endsWith('JOBDECK_JWT_SECRET=\n')).toBe(true);
  });

  it('skip variables the file already sets or mentions, and start on a line of their own', () => {
    const existing = 'DATABASE_URL=postgres://app\n# JOBDECK_JWT_SECRET=\nexport JOBDECK_CRONTAB=x';
    const { names, text } = missingEnvLines(existing);
    expect(names).toEqual(['JOBDECK_DATA_DIR', 'JOBDECK_TASKS_DIR', 'JOBDECK_CONCURRENCY']);
    expect(text.startsWith(`\n\n${ENV_HEADER}\n`)).toBe(true);
    expect(text).not.toMatch(/DATABASE_URL=|JOBDECK_CRONTAB=|JOBDECK_JWT_SECRET=/);
  });

  it('are not added at all when every variable is there', () => {
    const all = ENV_ENTRIES.flatMap((entry) => entry.lines).join('\n');
    expect(missingEnvLines(all)).toEqual({ names: [], text: '' });
  });

  it('do not take a longer name for one of theirs', () => {
    expect(missingEnvLines('MY_DATABASE_URL=x\n').names).toContain('DATABASE_URL');
  });
});

describe('exampleTaskFile()', () => {
  it('is hello.ts where the nearest package.json says "type": "module"', async () => {
    const dir = await folder({ type: 'module' });
    expect(exampleTaskFile(dir)).toEqual({ file: 'hello.ts', why: null });
    // a folder below it has no package.json of its own: the parent's counts, as for Node
    await mkdir(path.join(dir, 'app'));
    expect(exampleTaskFile(path.join(dir, 'app')).file).toBe('hello.ts');
  });

  it('is hello.mts, saying why, for CommonJS or an unstated type', async () => {
    const commonjs = exampleTaskFile(await folder({ type: 'commonjs' }));
    expect(commonjs.file).toBe('hello.mts');
    expect(commonjs.why).toMatch(/package\.json has "type": "commonjs"/);
    const unstated = exampleTaskFile(await folder({ name: 'app' }));
    expect(unstated.file).toBe('hello.mts');
    expect(unstated.why).toMatch(/package\.json has no "type"/);
  });
});
