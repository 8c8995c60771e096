import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { WORKER_NODE_FLAGS } from '../../src/worker/node-flags.ts';

const root = new URL('../../', import.meta.url);
const flags = WORKER_NODE_FLAGS.join(' ');

describe("jobdeck's own commands run with WORKER_NODE_FLAGS", () => {
  it('in every package.json script that runs the CLI', async () => {
    const pkg = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const cli = Object.entries(pkg.scripts).filter(([, command]) =>
      command.includes('src/cli/main.ts'),
    );
    expect(cli.map(([name]) => name)).toEqual(expect.arrayContaining(['start', 'worker']));
    // after any environment assignments (`npm start` asks for the dev sign-in that way)
    for (const [, command] of cli)
      expect(command).toMatch(new RegExp(`^(?:[A-Z_]+=\\S+ )*node ${flags} `));
  });

  it("in bin/jobdeck.js's shebang", async () => {
    const [shebang] = (await readFile(new URL('bin/jobdeck.js', root), 'utf8')).split('\n');
    expect(shebang).toBe(`#!/usr/bin/env -S node ${flags}`);
  });

  it('are flags this Node accepts', () => {
    for (const flag of WORKER_NODE_FLAGS) {
      expect(process.allowedNodeEnvironmentFlags.has(flag.split('=')[0]!)).toBe(true);
    }
  });
});
