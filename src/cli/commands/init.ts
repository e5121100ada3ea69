import { initPins, type InitHostResult } from '../../pinfile/edit.js';
import { defineCommand, UsageError } from '../command.js';
import { NETWORK_OPTIONS, NETWORK_USAGE, networkOptions } from '../net.js';
import { certpinCommand } from '../../lib/shell.js';
import { withoutLeadingName, type Output } from '../output.js';
import { configPath } from './approve.js';

export default defineCommand({
  name: 'init',
  summary: 'create or extend a pin file with the current pins of servers',
  usage: `Usage: certpin init HOST[:PORT]… --config pins.json [options]

Connects to each server with full validation and records the pin at the file's settings.pinLevel
(default: intermediate, the issuer of the leaf, which survives routine leaf renewals) of the
verified chain as "active", with its subject, firstSeen and lastSeen. Creates the file if needed;
a port other than 443 is stored as the entry's "port". Nothing is recorded for a server whose
chain is not trusted. A pin set without a backup pin is one lost key away from locking clients
out: init says so, and \`certpin keygen\` or \`certpin add\` fixes it.

Options:
  --config FILE              the pin file (required)
  --json                     print {"results":[{target, host, port, action, pin, subject, role, error, backupMissing}]}
${NETWORK_USAGE}

Exit status: 0 all recorded, 1 a chain was not trusted (or its pin was rejected before), 2 a usage
error, an unreadable pin file or an unreachable server.

Examples:
  certpin init api.example.com --config pins.json
  certpin init api.example.com:8443 https://auth.example.com/ --config pins.json`,
  options: { ...NETWORK_OPTIONS, config: { type: 'string' } },
  allowPositionals: true,
  async run({ values, positionals, json, out }) {
    const path = configPath(values.config);
    if (positionals.length === 0) throw new UsageError('give at least one HOST[:PORT] to pin');
    const { results, exitCode } = await initPins(path, positionals, { inspect: networkOptions(values) });
    if (json) out.json({ results });
    else for (const result of results) printResult(out, result, path);
    return exitCode;
  },
});

function printResult(out: Output, result: InitHostResult, path: string): void {
  const name = result.port === 443 ? result.host : `${result.host}:${result.port}`;
  if (result.action === 'error') {
    // The probe's message may already start with the target; the line names it once.
    const error = withoutLeadingName(result.error ?? 'unknown', [name, `${result.host}:${result.port}`, result.target]);
    out.line(`${name}: ${out.style.red('error')}: ${error}`);
    return;
  }
  const what = `${result.pin} (${result.role} ${result.subject})`;
  out.line(result.action === 'added' ? `${name}: ${out.style.green('pinned')} ${what} as active` : `${name}: ${what} is already trusted; lastSeen updated`);
  if (result.backupMissing) {
    out.warn(
      `${result.host} has no backup pin yet: if this key is lost or must be replaced, pinned clients are locked out. ` +
        `Create one with \`${certpinCommand('keygen', '--type', 'ec-p256', '--out', `${result.host.replace(/[^A-Za-z0-9.-]/g, '_')}-backup.key`, '--config', path, '--host', result.host)}\`, ` +
        `or add your CA's next key with \`${certpinCommand('add', result.host, 'PIN', '--status', 'backup', '--config', path)}\``,
    );
  }
}
