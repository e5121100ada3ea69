/**
 * "Did you mean" for the command line: the known word nearest to a mistyped one, by edit distance
 * (a swapped pair of letters, as in `--jsno`, counts as one edit), with the library's one distance.
 */
import { editDistance } from '../lib/suggest.js';

/**
 * The candidates nearest to `word` (at most a third of its length away, and at least one edit allowed;
 * a candidate that starts with `word` also counts), best first.
 */
export function nearest(word: string, candidates: Iterable<string>): string[] {
  const limit = Math.max(1, Math.floor(word.length / 3));
  const scored: Array<[string, number]> = [];
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d <= limit || (word.length >= 2 && candidate.startsWith(word))) scored.push([candidate, d]);
  }
  const best = Math.min(...scored.map(([, d]) => d));
  return scored.filter(([, d]) => d === best).map(([c]) => c);
}
