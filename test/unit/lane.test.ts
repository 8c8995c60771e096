import { describe, expect, it } from 'vitest';
import { Lane } from '../../src/worker/lane.ts';

describe('Lane', () => {
  it('writes items pushed together as one batch, and what arrives meanwhile as the next', async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    const lane = new Lane<number, number>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return items.map((n) => n * 10);
    }, 0);
    const first = [lane.push(1), lane.push(2)];
    await new Promise((resolve) => setImmediate(resolve));
    const second = [lane.push(3), lane.push(4), lane.push(5)];
    release();
    expect(await Promise.all([...first, ...second])).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
  });

  it('rejects every caller of a failed batch and keeps working', async () => {
    let fail = true;
    const errors: string[] = [];
    const lane = new Lane<number, number>(
      async (items) => {
        if (fail) throw new Error('database down');
        return items;
      },
      0,
      (error) => errors.push(error.message),
    );
    const results = await Promise.allSettled([lane.push(1), lane.push(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(errors).toEqual(['database down']);
    fail = false;
    expect(await lane.push(3)).toBe(3);
  });

  it('drain() waits for everything pushed so far', async () => {
    const written: number[] = [];
    const lane = new Lane<number>(async (items) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      written.push(...items);
      return items.map(() => undefined);
    }, 50);
    void lane.push(1);
    void lane.push(2);
    await lane.drain();
    expect(written).toEqual([1, 2]);
  });
});
