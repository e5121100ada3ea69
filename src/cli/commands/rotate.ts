import { rotatePins, type RotateResult } from '../../pinfile/rotate.js';
import { defineCommand, UsageError } from '../command.js';
import { NETWORK_OPTIONS, NETWORK_USAGE, networkOptions } from '../net.js';
import { withoutLeadingName, type Output } from '../output.js';
import { configPath } from './approve.js';
import { concurrencyOf } from './pins.js';

export default defineCommand({
  name: 'rotate',
  summary: 'the rotation job: check each host, record new pins for review, expire unseen ones',
  usage: `Usage: certpin rotate --config pins.json [HOST…] [--expire-after DAYS] [options]

For each host of the pin file (or only the HOSTs given), connects with full validation and:
  - updates lastSeen of every listed pin in the verified chain;
  - when no trusted (active/backup) pin is in the chain, records the pin at settings.pinLevel as
    "pending_review": never trusted until \`certpin approve\` (new_pin_detected);
  - reports a rejected pin seen again (rejected_pin_seen); an expired pin seen again comes back as
    pending_review;
  - marks active pins not seen for settings.expireUnseenAfterDays (or DAYS) as "expired"; never
    backup pins, never pins that were never seen, and only for hosts checked successfully;
  - sets lastChecked.
A "*.x" entry names no single server: it is skipped unless its "probeHost" names one ("**.x" is checked at x).
Run it on a schedule; exit 1 means a human is needed.

Options:
  --config FILE              the pin file (required)
  --expire-after DAYS        expire active pins unseen for DAYS (default: settings.expireUnseenAfterDays, 90)
  --concurrency N            check at most N hosts at once (default 8)
  --json                     print {"results":[{host, action, pin, message, target}], "expired":[{host, pin}], "skipped":[{host, reason}]}
${NETWORK_USAGE}

Actions: no_change, new_pin_detected, rejected_pin_seen, error.
Exit status: 0 nothing to do; 1 a human is needed (new or rejected pin, untrusted chain); 2 a host
was unreachable, or a usage error or unreadable pin file.

Examples:
  certpin rotate --config pins.json
  certpin rotate --config pins.json api.example.com --json`,
  options: { ...NETWORK_OPTIONS, config: { type: 'string' }, 'expire-after': { type: 'string' }, concurrency: { type: 'string' } },
  allowPositionals: true,
  async run({ values, positionals, json, out }) {
    const path = configPath(values.config);
    const days = values['expire-after'];
    if (days !== undefined && !(/^\d+(\.\d+)?$/.test(days) && Number(days) > 0)) {
      throw new UsageError(`--expire-after takes a positive number of days, got ${JSON.stringify(days)}`);
    }
    const result = await rotatePins(path, {
      hosts: positionals,
      inspect: networkOptions(values),
      concurrency: concurrencyOf(values.concurrency),
      ...(days === undefined ? {} : { expireAfterDays: Number(days) }),
    });
    // A host that could not be checked is said on stderr too, where cron mails and CI logs look.
    for (const r of result.results) if (r.action === 'error') out.note(`certpin: ${r.host}: ${withoutLeadingName(r.message, [r.host, r.target])}`);
    if (json) out.json({ results: result.results, expired: result.expired, skipped: result.skipped });
    else printResult(out, result);
    return result.exitCode;
  },
});

function printResult(out: Output, { results, expired, skipped }: RotateResult): void {
  const colour = { no_change: out.style.green, new_pin_detected: out.style.yellow, rejected_pin_seen: out.style.red, error: out.style.red };
  for (const r of results) out.line(`${r.host}: ${colour[r.action](r.action)}${r.pin === null ? '' : ` ${r.pin}`}\n  ${r.message}`);
  for (const e of expired) out.line(`${e.host}: ${out.style.yellow('expired')} ${e.pin} (not seen for too long)`);
  for (const s of skipped) out.note(`certpin: skipped ${s.host}: ${s.reason}`);
  if (results.length === 0 && skipped.length === 0) out.line('no hosts in the pin file');
}
