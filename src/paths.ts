import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * jobdeck's own folder: the one holding its package.json. The same from the sources
 * (`src/paths.ts`) and from the built package (`dist/src/paths.js`), so migrations, dashboard
 * files and built-in tasks are found wherever npm put the package.
 */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
      if (name === 'jobdeck') return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir)
      throw new Error(`cannot find jobdeck's package.json above ${import.meta.url}`);
    dir = parent;
  }
}

/** The package's root folder (package.json, migrations/, dashboard/). */
export const PACKAGE_ROOT: string = findPackageRoot();

/** True when this code runs from its TypeScript sources (the repository), false from `dist/`. */
export const FROM_SOURCES: boolean = import.meta.url.endsWith('.ts');

/** jobdeck's own task modules: `tasks/*.ts` in the repository, `dist/tasks/*.js` in the package. */
export const BUILTIN_TASKS_DIR: string = FROM_SOURCES
  ? path.join(PACKAGE_ROOT, 'tasks')
  : path.join(PACKAGE_ROOT, 'dist', 'tasks');
