import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { graphileShutdownNoise } from '../../src/worker/graphile-supervisor.ts';

const require = createRequire(import.meta.url);

/** An error as pg-pool throws it on a second release, called from Graphile Worker's listener. */
function doubleRelease(caller: string): Error {
  const error = new Error('Release called on client which has already been released to the pool.');
  error.stack = [
    `Error: ${error.message}`,
    '    at throwOnDoubleRelease (/app/node_modules/pg-pool/index.js:27:9)',
    '    at /app/node_modules/pg-pool/index.js:374:9',
    `    at release (${caller}:347:20)`,
  ].join('\n');
  return error;
}

describe("Graphile Worker's rejections while its pool goes down", () => {
  it('are logged, not fatal: the local queue it cannot hand back, the LISTEN client it releases twice', () => {
    expect(
      graphileShutdownNoise(
        new Error(
          'Error occurred whilst returning jobs from local queue to database queue: read ECONNRESET',
        ),
      ),
    ).toMatch(/released when the worker restarts$/);
    expect(
      graphileShutdownNoise(doubleRelease('file:///app/node_modules/graphile-worker/dist/main.js')),
    ).toMatch(/released its LISTEN client twice/);
  });

  it('stay fatal for anything else, a double release in other code included', () => {
    expect(graphileShutdownNoise(doubleRelease('file:///app/src/my-code.js'))).toBeNull();
    expect(graphileShutdownNoise(new Error('boom'))).toBeNull();
    expect(graphileShutdownNoise('a string')).toBeNull();
    expect(graphileShutdownNoise(undefined)).toBeNull();
  });

  it("match pg-pool's own message", () => {
    const source = readFileSync(require.resolve('pg-pool'), 'utf8');
    expect(source).toContain(
      'Release called on client which has already been released to the pool',
    );
  });
});
