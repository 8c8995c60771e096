import { afterEach, describe, expect, it } from 'vitest';
import { ServiceRunner, type WorkerService } from '../../src/worker/service-runner.ts';
import { sleep } from '../../src/util/sleep.ts';
import { waitFor } from '../helpers/db.ts';
import { recordingLogger } from '../helpers/worker.ts';

/** A service that records its rounds; `fail` makes the next rounds throw. */
function fakeService(name: string, intervalMs: number, roundMs = 0) {
  const state = { rounds: [] as string[], fail: false };
  const service: WorkerService & { state: typeof state } = {
    name,
    intervalMs,
    state,
    async runOnce() {
      if (roundMs > 0) await sleep(roundMs);
      state.rounds.push(name);
      if (state.fail) throw new Error(`${name} broke`);
    },
  };
  return service;
}

describe('ServiceRunner', () => {
  const runners: ServiceRunner[] = [];
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((runner) => runner.stop()));
  });
  function start(services: WorkerService[], logger = recordingLogger()) {
    const runner = new ServiceRunner(services, logger);
    runners.push(runner);
    return runner;
  }

  it('runs every first round in order at start, then each service again on its own interval', async () => {
    const log: string[] = [];
    const a = fakeService('a', 10);
    const b = fakeService('b', 10);
    a.state.rounds = log;
    b.state.rounds = log;
    const runner = start([a, b]);
    await runner.start();
    expect(log).toEqual(['a', 'b']);
    await waitFor(() => log.filter((n) => n === 'a').length >= 3 && log.includes('b', 2));
  });

  it('runs one round at a time across all services', async () => {
    const shared = { running: 0, max: 0 };
    const services = ['a', 'b', 'c'].map((name) => ({
      name,
      intervalMs: 1,
      rounds: 0,
      async runOnce() {
        shared.running++;
        shared.max = Math.max(shared.max, shared.running);
        await sleep(5);
        this.rounds++;
        shared.running--;
      },
    }));
    const runner = start(services);
    await runner.start();
    await waitFor(() => services.every((s) => s.rounds >= 4));
    expect(shared.max).toBe(1);
  });

  it('logs a failed round and runs the service again at its interval', async () => {
    const logger = recordingLogger();
    const flaky = fakeService('flaky', 5);
    const runner = start([flaky], logger);
    await runner.start();
    flaky.state.fail = true;
    await waitFor(() => logger.warnings.length >= 2);
    expect(logger.warnings[0]).toBe('flaky failed: flaky broke');
  });

  it('refuses to start when a first round fails', async () => {
    const broken = fakeService('heartbeat', 5);
    broken.state.fail = true;
    await expect(start([broken]).start()).rejects.toThrow('heartbeat broke');
  });

  it('waits for the round in flight when stopped, and runs no more', async () => {
    const slow = fakeService('slow', 1, 30);
    const runner = start([slow]);
    await runner.start();
    await waitFor(() => slow.state.rounds.length >= 2);
    await runner.stop();
    const done = slow.state.rounds.length;
    await sleep(50);
    expect(slow.state.rounds.length).toBe(done);
  });
});
