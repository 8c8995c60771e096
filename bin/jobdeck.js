#!/usr/bin/env -S node --max-semi-space-size=8
// Launcher for the `jobdeck` command. jobdeck needs Node >= 22.18 (TypeScript type stripping,
// Graphile Worker 0.18); when an older node starts this file (Node 20 is common), re-run it on
// the Node 24 the project installs as a dependency (node_modules/.bin/node).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'src', 'cli', 'main.ts');
const [major, minor] = process.versions.node.split('.').map(Number);

if (major > 22 || (major === 22 && minor >= 18)) {
  const { main } = await import(entry);
  process.exitCode = await main(process.argv.slice(2));
} else {
  const local = join(root, 'node_modules', '.bin', 'node');
  if (!existsSync(local)) {
    console.error(
      `jobdeck needs Node >= 22.18 (this is ${process.version}); run npm install to get the bundled Node 24`,
    );
    process.exit(1);
  }
  const result = spawnSync(local, [...process.execArgv, entry, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(result.status ?? 1);
}
