#!/usr/bin/env -S node --max-semi-space-size=8
// Launcher for the `jobdeck` command. Plain JavaScript that any Node can parse, so an old Node
// gets one clear line instead of a stack. Installed as a package it runs the built code in dist/;
// in a checkout of jobdeck's repository it runs the TypeScript sources, on the Node 24 the
// repository installs for its own scripts when the machine's Node is older.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sources = join(root, 'src', 'cli', 'main.ts');
const built = join(root, 'dist', 'src', 'cli', 'main.js');
const checkout = existsSync(sources);
const [major, minor] = process.versions.node.split('.').map(Number);
const supported = major > 22 || (major === 22 && minor >= 18);

if (supported && !checkout) {
  // Before the CLI's first import: Node keeps what it compiled in the OS temp folder, and each
  // later start skips that work (NODE_DISABLE_COMPILE_CACHE=1 turns it off).
  module.enableCompileCache();
  const { main } = await import(built);
  process.exitCode = await main(process.argv.slice(2));
} else {
  const node = supported ? process.execPath : join(root, 'node_modules', '.bin', 'node');
  if (!existsSync(node)) {
    console.error(`jobdeck needs Node >= 22.18; this is Node ${process.version}`);
    process.exit(1);
  }
  const entry = checkout ? ['--conditions=jobdeck-source', sources] : [built];
  const result = spawnSync(node, [...process.execArgv, ...entry, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(result.status ?? 1);
}
