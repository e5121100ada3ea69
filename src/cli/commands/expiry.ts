import { checkExpiry, describeExpiry, EXPIRY_EXIT_CODES, formatNagiosExpiry, worstExpiryStatus, type ExpiryResult, type ExpiryStatus } from '../../ops/expiry.js';
import { probeTargets } from '../../pinfile/targets.js';
import { defineCommand, UsageError } from '../command.js';
import { NETWORK_OPTIONS, NETWORK_USAGE, networkOptions, STDIN_TARGET, targetPath } from '../net.js';
import { runTargets, type Output } from '../output.js';
import { readConfigFile } from '../pinfile.js';
import { concurrencyOf } from './pins.js';

function daysOption(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} takes a whole number of days, got ${JSON.stringify(text)}`);
  return Number(text);
}

function colour(out: Output, status: ExpiryStatus): string {
  const label = status.toUpperCase();
  return status === 'ok' ? out.style.green(label) : status === 'warning' ? out.style.yellow(label) : status === 'critical' ? out.style.red(label) : out.style.bold(label);
}

export default defineCommand({
  name: 'expiry',
  summary: 'check when the certificates of servers or files expire (Nagios exit codes)',
  usage: `Usage: certpin expiry TARGET… [options]
       certpin expiry --config pins.json [options]

Finds the certificate that expires first in each chain: the whole verified chain, not only the
leaf, since an intermediate or root that expires first breaks it just the same. An expired
certificate is CRITICAL, with its dates shown. A chain that fails validation for another reason
is UNKNOWN unless its dates alone make it WARNING or CRITICAL. With --config, every host entry of
the pin file is checked (a *. entry needs its "probeHost").

TARGET is host, host:port, [v6]:port, an https:// URL (port 443 by default), or a certificate file
(- reads it from standard input).

Options:
  --warn DAYS                WARNING when fewer than DAYS whole days are left (default 30)
  --critical DAYS            CRITICAL when fewer than DAYS whole days are left (default 7;
                             not more than --warn)
  --config FILE              check the hosts of this pin file
  --concurrency N            probe at most N servers at once (default 8)
  --json                     print {"results":[{target, status, daysLeft, notAfter, subject, role, …}]}
${NETWORK_USAGE}

For one target, the first line is a Nagios/Icinga plugin status line with performance data, e.g.
  CERTPIN EXPIRY WARNING - api.example.com:443 expires in 20 days (…) | days=20;30;7
then the target's line. Several targets print one line each as it completes (in the order given),
and the status line of the worst state, with every target's days as perfdata, comes last.

Exit status (as a Nagios plugin): 0 OK, 1 WARNING, 2 CRITICAL (also expired), 3 UNKNOWN
(unreachable, unreadable, or a usage error). Several targets exit with the worst:
CRITICAL > WARNING > UNKNOWN > OK.

Examples:
  certpin expiry api.example.com www.example.com --warn 21 --critical 7
  certpin expiry --config pins.json --json
  certpin expiry server-chain.pem`,
  options: {
    ...NETWORK_OPTIONS,
    warn: { type: 'string' },
    critical: { type: 'string' },
    config: { type: 'string' },
    concurrency: { type: 'string' },
  },
  allowPositionals: true,
  errorExitCode: EXPIRY_EXIT_CODES.unknown,
  async run({ values, positionals, json, out }) {
    const warn = daysOption(values.warn, 'warn', 30);
    const critical = daysOption(values.critical, 'critical', 7);
    if (warn < critical) throw new UsageError(`--warn ${warn} is smaller than --critical ${critical}: nothing could ever be a WARNING; give --warn at least ${critical}`);
    const concurrency = concurrencyOf(values.concurrency);
    if (positionals.length === 0 && values.config === undefined) throw new UsageError('give at least one TARGET, or --config pins.json');
    const options = networkOptions(values);
    const targets = [...positionals];
    if (values.config !== undefined) {
      const { document } = await readConfigFile(values.config);
      for (const planned of probeTargets(document)) {
        if (planned.target === null) out.warn(`skipped ${planned.entry}: ${planned.reason ?? 'nothing to probe'}`);
        else targets.push(planned.target);
      }
      if (targets.length === 0) throw new UsageError(`${values.config} names no host that can be probed`);
    }
    for (const target of targets) targetPath(target, targets);
    const streams = !json && targets.length > 1;
    // Several targets stream, one line each as soon as it and every earlier one are done, in columns
    // sized from what is known up front (the state words and the targets).
    const targetWidth = Math.max(...targets.map((t) => t.length));
    const row = (r: ExpiryResult) => `${colour(out, r.status)}${' '.repeat(Math.max(0, 8 - r.status.length))}  ${r.target.padEnd(targetWidth)}  ${describeExpiry(r)}`;
    const results = await runTargets(out, 'expiry', targets, concurrency, async (target) => {
      const path = targetPath(target, targets);
      const result = await checkExpiry(path, { ...options, warn, critical });
      if (target === STDIN_TARGET) Object.assign(result, { target, error: result.error?.replaceAll(path, 'standard input') ?? null });
      return result;
    }, (result) => {
      if (streams) out.line(row(result));
    });
    // Nagios and Icinga read the first line as the check's output and what follows '|' as perfdata.
    // With one target that is the status line, then the target's line. Several targets have streamed
    // their lines by now (CI logs show progress), so the status line, the worst state with every
    // target's days as perfdata, comes last: Nagios takes perfdata from there too.
    if (json) out.json({ results });
    else if (streams) out.line(formatNagiosExpiry(results, { warn, critical }));
    else {
      out.line(formatNagiosExpiry(results, { warn, critical }));
      out.lines(results.map(row));
    }
    return EXPIRY_EXIT_CODES[worstExpiryStatus(results.map((r) => r.status))];
  },
});
