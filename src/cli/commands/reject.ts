import { rejectPin } from '../../pinfile/edit.js';
import { defineCommand } from '../command.js';
import { configPath, hostAndPin, printEdit } from './approve.js';

export default defineCommand({
  name: 'reject',
  summary: 'mark a pin of the pin file as rejected',
  usage: `Usage: certpin reject HOST PIN --config pins.json

Marks a pin the file lists for HOST "rejected": it is never trusted, and \`certpin rotate\` reports
it (rejected_pin_seen, exit 1) whenever a server shows it again. Refuses a host the file does not
list, a pin it does not list for that host and a malformed pin.

Options:
  --config FILE   the pin file (required)
  --json          print {host, pin, previous, status, changed, trustedPins, backupMissing}

Exit status: 0 done, 2 a usage error, an unknown host or pin, or an unreadable pin file.`,
  options: { config: { type: 'string' } },
  allowPositionals: true,
  async run({ values, positionals, json, out }) {
    const path = configPath(values.config);
    const [host, pin] = hostAndPin(positionals, 'reject');
    const result = await rejectPin(path, host, pin);
    if (json) out.json(result);
    else printEdit(out, result, path);
    return 0;
  },
});
