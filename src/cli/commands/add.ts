import { addPin } from '../../pinfile/edit.js';
import { defineCommand, UsageError } from '../command.js';
import { configPath, hostAndPin, printEdit } from './approve.js';

export default defineCommand({
  name: 'add',
  summary: 'add an active or backup pin to a host of the pin file',
  usage: `Usage: certpin add HOST PIN --status active|backup --config pins.json [--note TEXT]

Adds PIN to a host the pin file already lists (create hosts with \`certpin init\`). A backup pin is
the key you will move to when the current one is lost or replaced: keep it offline. PIN may be
written sha256/…, sha256//… (curl) or pin-sha256="…" (HPKP); \`certpin pins FILE\` computes it from a
key, CSR or certificate.

Options:
  --config FILE            the pin file (required)
  --status active|backup   required
  --note TEXT              stored with the pin, e.g. where the backup key is kept
  --json                   print {host, pin, previous, status, changed, trustedPins, backupMissing}

Exit status: 0 done, 2 a usage error, an unknown host, a malformed pin, a pin already listed with
another status, or an unreadable pin file.`,
  options: { config: { type: 'string' }, status: { type: 'string' }, note: { type: 'string' } },
  allowPositionals: true,
  async run({ values, positionals, json, out }) {
    const path = configPath(values.config);
    const [host, pin] = hostAndPin(positionals, 'add');
    const status = values.status;
    if (status !== 'active' && status !== 'backup') {
      throw new UsageError(status === undefined ? '--status active|backup is required' : `--status takes active or backup, got ${JSON.stringify(status)}`);
    }
    const result = await addPin(path, host, pin, { status, ...(values.note === undefined ? {} : { note: values.note }) });
    if (json) out.json(result);
    else printEdit(out, result, path);
    return 0;
  },
});
