import { describe, expect, it } from 'vitest';
import { vocabulary } from '../../src/jobs/vocabulary.ts';

const OURS = ['queued', 'running', 'done'] as const;

describe('vocabulary()', () => {
  it('derives both directions from one table, words in the order written', () => {
    const v = vocabulary(OURS, { waiting: ['queued'], busy: ['running'], over: ['done'] });
    expect(v.values).toEqual(['waiting', 'busy', 'over']);
    expect(v.of).toEqual({ queued: 'waiting', running: 'busy', done: 'over' });
    expect(v.from('busy')).toEqual(['running']);
  });

  it('lets one word stand for several values, listed in our order', () => {
    const v = vocabulary(OURS, { open: ['running', 'queued'], closed: ['done'] });
    expect(v.of.queued).toBe('open');
    expect(v.from('open')).toEqual(['queued', 'running']);
  });

  it('takes a list of words one for one', () => {
    const v = vocabulary(OURS, ['Q', 'R', 'D']);
    expect(v.of).toEqual({ queued: 'Q', running: 'R', done: 'D' });
    expect(v.from('D')).toEqual(['done']);
  });

  it('refuses a value with no word, a value with two, and lists of the wrong length', () => {
    expect(() => vocabulary(OURS, { a: ['queued'], b: ['running'] })).toThrow('no word for "done"');
    expect(() => vocabulary(OURS, { a: ['queued', 'done'], b: ['running', 'done'] })).toThrow(
      '"done" reads as both a and b',
    );
    expect(() => vocabulary(OURS, ['Q', 'R'])).toThrow('2 words for 3 values');
  });
});
