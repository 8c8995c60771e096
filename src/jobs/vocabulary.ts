/**
 * A contract's words for one of jobdeck's vocabularies (its job statuses, its log levels): each of
 * its words with the jobdeck values it stands for, written once. Both directions derive from that
 * one table: a jobdeck value in the contract's words (a response) and the jobdeck values a word
 * stands for (a `?status=` filter). Used by the seed contracts (src/http/rest/novus-contract.ts,
 * src/jobs/osint-model.ts).
 */
export interface Vocabulary<Ours extends string, Theirs extends string> {
  /** The contract's words, in the order it lists them. */
  readonly values: readonly [Theirs, ...Theirs[]];
  /** Each of jobdeck's values in the contract's words. */
  readonly of: Readonly<Record<Ours, Theirs>>;
  /** The jobdeck values a word stands for, in jobdeck's order. */
  readonly from: (word: Theirs) => Ours[];
  /** Counts by jobdeck value, added up by word (every word present, 0 where none). */
  readonly tally: (counts: Partial<Readonly<Record<Ours, number>>>) => Record<Theirs, number>;
}

/**
 * The vocabulary whose words are the keys of `words`, each standing for the listed values of
 * `ours`, or, given a list, whose words stand one for one for `ours` in the same order. Throws when
 * a value of `ours` has no word or two: every jobdeck value must read as exactly one word.
 */
export function vocabulary<Ours extends string, const Theirs extends string>(
  ours: readonly Ours[],
  words: Readonly<Record<Theirs, readonly NoInfer<Ours>[]>> | readonly Theirs[],
): Vocabulary<Ours, Theirs> {
  const table = isList(words) ? oneForOne(ours, words) : words;
  const values = Object.keys(table) as [Theirs, ...Theirs[]];
  if (values.length === 0) throw new Error('a vocabulary needs at least one word');
  const of = new Map<Ours, Theirs>();
  for (const word of values) {
    for (const value of table[word]) {
      const earlier = of.get(value);
      if (earlier !== undefined) throw new Error(`"${value}" reads as both ${earlier} and ${word}`);
      of.set(value, word);
    }
  }
  const missing = ours.filter((value) => !of.has(value));
  if (missing.length > 0) throw new Error(`no word for ${missing.map((v) => `"${v}"`).join(', ')}`);
  return {
    values,
    of: Object.fromEntries(ours.map((value) => [value, of.get(value)!])) as Record<Ours, Theirs>,
    from: (word) => ours.filter((value) => of.get(value) === word),
    tally: (counts) => {
      const out = Object.fromEntries(values.map((word) => [word, 0])) as Record<Theirs, number>;
      for (const value of ours) out[of.get(value)!] += counts[value] ?? 0;
      return out;
    },
  };
}

function isList<T>(words: object): words is readonly T[] {
  return Array.isArray(words);
}

function oneForOne<Ours extends string, Theirs extends string>(
  ours: readonly Ours[],
  words: readonly Theirs[],
): Record<Theirs, readonly Ours[]> {
  if (words.length !== ours.length)
    throw new Error(`${words.length} words for ${ours.length} values: one each is needed`);
  const table = {} as Record<Theirs, readonly Ours[]>;
  words.forEach((word, i) => (table[word] = [ours[i]!]));
  return table;
}
