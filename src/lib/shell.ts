/**
 * Quotes a word for a POSIX shell, so that a command certpin prints as a hint runs as printed when
 * pasted (a pin file path with a space, say). Words made only of safe characters stay as they are.
 */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * A `certpin …` command line from its words, each quoted for a POSIX shell as needed, so that it runs
 * as printed when pasted: the form of the hints in certpin's own messages (`rotatePins` asks for
 * `certpin approve …` of a pending pin, `approvePin` for `certpin add …`). For a job of yours that
 * tells a person what to run next.
 *
 * @param words - The arguments after `certpin`, unquoted.
 * @returns The command line, e.g. `certpin approve api.example.com sha256/… --config 'my pins.json'`.
 * @throws Never.
 * @example
 * ```js
 * import { certpinCommand, rotatePins } from 'certpin'
 * const { results } = await rotatePins(path)
 * for (const r of results) {
 *   if (r.action === 'new_pin_detected') notify(`review ${r.pin}, then run: ${certpinCommand('approve', r.host, r.pin, '--config', path)}`)
 * }
 * ```
 */
export function certpinCommand(...words: readonly string[]): string {
  return ['certpin', ...words].map(shellQuote).join(' ');
}
