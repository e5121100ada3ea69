/**
 * Quotes a word for a POSIX shell, so that a command certpin prints as a hint runs as printed when
 * pasted (a pin file path with a space, say). Words made only of safe characters stay as they are.
 */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A `certpin …` command line from its words, each quoted as needed. */
export function certpinCommand(...words: readonly string[]): string {
  return ['certpin', ...words].map(shellQuote).join(' ');
}
