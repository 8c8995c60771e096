import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Inside this repository `import … from 'jobdeck'` (the built-in tasks, test fixtures) resolves to
// the TypeScript sources, as `node --conditions=jobdeck-source` does for the package.json scripts.
const conditions = ['jobdeck-source', ...defaultServerConditions];

export default defineConfig({
  ssr: { resolve: { conditions, externalConditions: ['jobdeck-source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    // Grafast warns at load when this is unset; test in the mode jobdeck serves in.
    env: { GRAPHILE_ENV: 'production' },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each integration file clones its own database, so files can run side by side.
    fileParallelism: true,
  },
});
