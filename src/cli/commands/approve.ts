import { approvePin, type PinEditResult } from '../../pinfile/edit.js';
import { defineCommand, UsageError } from '../command.js';
import type { Output } from '../output.js';

/** The required `--config FILE` of the pin file commands. */
export function configPath(value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError('--config FILE is required: the pin file to work on');
  return value;
}

/** HOST and PIN, exactly two positionals. */
export function hostAndPin(positionals: readonly string[], command: string): [string, string] {
  if (positionals.length !== 2) throw new UsageError(`${command} takes HOST and PIN, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`);
  return [positionals[0]!, positionals[1]!];
}

/** One line about an edited pin, and a warning when the host is left without trusted or backup pins. */
export function printEdit(out: Output, result: PinEditResult): void {
  const was = result.previous === null ? 'added' : result.changed ? `was ${result.previous}` : 'unchanged';
  out.line(`${result.host}: ${result.pin} is ${out.style.bold(result.status)} (${was})`);
  if (result.trustedPins === 0) out.warn(`${result.host} has no trusted pin left: pinned clients will refuse every connection to it`);
  else if (result.backupMissing) out.warn(`${result.host} has no backup pin: add one with \`certpin keygen\` or \`certpin add ${result.host} PIN --status backup\``);
}

export default defineCommand({
  name: 'approve',
  summary: 'trust a pin of the pin file (e.g. one rotate recorded as pending_review)',
  usage: `Usage: certpin approve HOST PIN --config pins.json

Makes a pin the file lists for HOST "active", typically one that \`certpin rotate\` found and
recorded as "pending_review". Check where the new key comes from first: pinning exists so that a
certificate from the wrong hands is refused. Refuses a host the file does not list, a pin it does
not list for that host (use \`certpin add\`) and a malformed pin. The write is atomic and locked, so
an application watching the file (loadPolicy with watch: true) applies it at once.

Options:
  --config FILE   the pin file (required)
  --json          print {host, pin, previous, status, changed, trustedPins, backupMissing}

Exit status: 0 done, 2 a usage error, an unknown host or pin, or an unreadable pin file.`,
  options: { config: { type: 'string' } },
  allowPositionals: true,
  async run({ values, positionals, json, out }) {
    const path = configPath(values.config);
    const [host, pin] = hostAndPin(positionals, 'approve');
    const result = await approvePin(path, host, pin);
    if (json) out.json(result);
    else printEdit(out, result);
    return 0;
  },
});
