/**
 * "Did you mean …?" for misspelled keys and options: the one implementation certpin uses wherever it
 * refuses a name it does not know.
 */

/** Case, `_` and `-` do not tell keys apart for a human: `include_subdomains` means `includeSubdomains`. */
const fold = (name: string): string => name.toLowerCase().replace(/[_-]/g, '');

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1]!;
}

/**
 * The known name closest to `name`, or undefined when none is close enough to be a plausible typo
 * (at most one edit per three characters, and at least one). Names equal but for case, `_` and `-`
 * always match.
 *
 * @example
 * ```js
 * nearestName('enforse', ['pins', 'enforce', 'expires']) // 'enforce'
 * nearestName('include_subdomains', ['includeSubdomains']) // 'includeSubdomains'
 * nearestName('colour', ['pins', 'enforce']) // undefined
 * ```
 */
export function nearestName(name: string, known: Iterable<string>): string | undefined {
  const folded = fold(name);
  const budget = Math.max(1, Math.floor(folded.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(folded, fold(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= budget ? best : undefined;
}

/** ` (did you mean X?)`, or nothing when no known name is close. */
export function didYouMean(name: string, known: Iterable<string>): string {
  const near = nearestName(name, known);
  return near === undefined ? '' : ` (did you mean ${near}?)`;
}
