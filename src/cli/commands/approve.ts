import { approvePin, type PinEditResult } from '../../pinfile/edit.js';
import { defineCommand, UsageError } from '../command.js';
import { certpinCommand } from '../../lib/shell.js';
import { parsePin } from '../../policy/pin.js';
import { findHostKey, pinOf, statusOf } from '../../pinfile/store.js';
import type { Output } from '../output.js';
import { readConfigFile } from '../pinfile.js';

/** The pin as the file stores it, or the text itself when malformed (approvePin then says why). */
function safeParsePin(text: string): string {
  try {
    return parsePin(text);
  } catch {
    return text;
  }
}

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

/**
 * One line about an edited pin, and a warning when the host is left without trusted or backup pins;
 * the commands it suggests name the same pin file, so they run as printed.
 */
export function printEdit(out: Output, result: PinEditResult, path: string): void {
  const was = result.previous === null ? 'added' : result.changed ? `was ${result.previous}` : 'unchanged';
  out.line(`${result.host}: ${result.pin} is ${out.style.bold(result.status)} (${was})`);
  if (result.trustedPins === 0) out.warn(`${result.host} has no trusted pin left: pinned clients will refuse every connection to it`);
  else if (result.backupMissing) {
    const keygen = certpinCommand('keygen', '--type', 'ec-p256', '--out', `${result.host.replace(/[^A-Za-z0-9.-]/g, '_')}-backup.key`, '--config', path, '--host', result.host);
    out.warn(`${result.host} has no backup pin: make one with \`${keygen}\`, or add your CA's next key with \`${certpinCommand('add', result.host, 'PIN', '--status', 'backup', '--config', path)}\``);
  }
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
  --force         also approve a backup pin (it becomes active, and the host has one backup less)
  --json          print {host, pin, previous, status, changed, trustedPins, backupMissing}

Exit status: 0 done, 2 a usage error, an unknown host or pin, or an unreadable pin file.`,
  options: { config: { type: 'string' }, force: { type: 'boolean' } },
  allowPositionals: true,
  async run({ values, positionals, json, out }) {
    const path = configPath(values.config);
    const [host, pin] = hostAndPin(positionals, 'approve');
    // Approving a backup pin makes it active and leaves the host without the backup it was: a
    // deliberate act, so it takes --force (checked before the locked write; the write itself cannot
    // lose a concurrent update).
    if (values.force !== true) {
      const { document } = await readConfigFile(path);
      const key = findHostKey(document, host);
      const pins = key === undefined ? [] : document.hosts[key]?.pins ?? [];
      const listed = pins.find((p) => pinOf(p) === safeParsePin(pin));
      if (listed !== undefined && statusOf(listed) === 'backup') {
        const left = pins.filter((p) => statusOf(p) === 'backup').length - 1;
        throw new UsageError(`${pinOf(listed)} is a backup pin of ${key}: approving it makes it active and leaves ${left === 0 ? 'no backup' : `${left} backup${left === 1 ? '' : 's'}`}; add --force if that is what you want`);
      }
    }
    const result = await approvePin(path, host, pin);
    if (json) out.json(result);
    else printEdit(out, result, path);
    return 0;
  },
});
