import { defineConfig } from 'vitest/config';

export default defineConfig({
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
