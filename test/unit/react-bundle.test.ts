import path from 'node:path';
import { build, type Rollup } from 'vite';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.ts';

describe('jobdeck/react', () => {
  it('bundles for a browser with nothing but react from outside', async () => {
    const imported = new Set<string>();
    const result = (await build({
      configFile: false,
      logLevel: 'silent',
      root: ROOT,
      build: {
        write: false,
        minify: false,
        lib: { entry: path.join(ROOT, 'src/react/index.ts'), formats: ['es'], fileName: 'react' },
        rolldownOptions: {
          // Record every bare import instead of bundling it: only `react` may be one.
          external: (id: string) => {
            const bare = !id.startsWith('.') && !path.isAbsolute(id) && !id.startsWith('\0');
            if (bare) imported.add(id);
            return bare;
          },
        },
      },
    })) as Rollup.RollupOutput[] | Rollup.RollupOutput;
    const output = (Array.isArray(result) ? result : [result]).flatMap((r) => r.output);
    const modules = output.flatMap((chunk) =>
      chunk.type === 'chunk' ? Object.keys(chunk.modules).map((m) => path.relative(ROOT, m)) : [],
    );
    expect([...imported].sort()).toEqual(['react']);
    // only the browser-safe files: the client, the hooks, and the import-free vocabulary
    expect(modules.sort()).toEqual([
      'src/jobs/categories.ts',
      'src/jobs/states.ts',
      'src/react/hooks.ts',
      'src/react/index.ts',
      'src/react/live-client.ts',
      'src/react/live-feed.ts',
      'src/react/sse-reader.ts',
    ]);
  });
});
