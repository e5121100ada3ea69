import { lintPinFile, type LintFinding } from '../../index.js';
import { defineCommand, UsageError } from '../command.js';
import { NETWORK_OPTIONS, NETWORK_USAGE, networkOptions } from '../net.js';
import type { Progress } from '../output.js';
import { concurrencyOf } from './pins.js';

export default defineCommand({
  name: 'lint',
  summary: 'check a pin file for missing backups, bad pins, expiry mistakes and risky patterns',
  usage: `Usage: certpin lint --config pins.json [--live] [options]

Reports what is wrong or dangerous in a pin file, and every setting that runs a pinned host
unpinned, each finding with its fix in one line:
  unknown-key           a key certpin does not know (each one, with the nearest known key); your own
                        annotations go in "x-..." keys (and a pin's "note")
  expires-past          "expires" has passed: the pins are no longer enforced, the host runs unpinned
  no-trusted-pin        only pending_review, rejected or expired pins: nothing can match
  report-only           (info) "enforce": false: violations go ahead and are only reported
  expires-soon          (info) "expires" is less than 30 days away
  too-few-pins          fewer than two trusted (active or backup) pins for a host
  no-backup             no "backup" pin (with --live: no-pin-outside-chain, every trusted pin is in
                        the live chain, so nothing is left when those keys change)
  malformed-pin         a pin that is not sha256/ + base64 of 32 bytes
  invalid-entry         a field of an entry that certpin cannot use
  expires-far           "expires" is more than a year away
  leaf-pin              a server's own key pinned with no backup key held for it (a server you do not
                        run can change it at any renewal); known by the stored subject or --live
  public-suffix         *., **. or includeSubdomains on a public suffix (a built-in list of common
                        ones: every top-level domain, co.uk, com.au, github.io, herokuapp.com, …)
  live-mismatch         (--live) no trusted pin is in the host's live chain: clients fail now
  live-probe-failed     (--live) the host could not be reached or its chain did not validate

Options:
  --config FILE              the pin file to check (required)
  --live                     also connect to every host and check the pins against its chain
  --concurrency N            with --live, probe at most N servers at once (default 8)
  --json                     print {"findings":[{host, rule, severity, message, fix}]}
${NETWORK_USAGE}

Exit status: 0 nothing found (or only info findings), 1 findings, 2 when the file cannot be read or
is not a pin file.

Examples:
  certpin lint --config pins.json
  certpin lint --config pins.json --live --ca corp-root.pem`,
  options: { ...NETWORK_OPTIONS, config: { type: 'string' }, live: { type: 'boolean' }, concurrency: { type: 'string' } },
  allowPositionals: false,
  async run({ values, json, out }) {
    if (values.config === undefined) throw new UsageError('--config pins.json is required');
    const live = values.live === true;
    const concurrency = concurrencyOf(values.concurrency);
    const network = live ? networkOptions(values) : {};
    let findings: LintFinding[];
    if (live) {
      let progress: Progress | undefined;
      try {
        findings = await lintPinFile(values.config, {
          ...network,
          live,
          concurrency,
          onStart: (total) => (progress = out.progress(total, 'lint')),
          onProbe: (probe) => progress?.tick(probe.entry),
        });
      } finally {
        progress?.done();
      }
    } else {
      findings = await lintPinFile(values.config);
    }
    const warnings = findings.filter((f) => f.severity === 'warning').length;
    const infos = findings.length - warnings;
    if (json) {
      out.json({ findings });
    } else if (findings.length === 0) {
      out.line(`${values.config}: no findings`);
    } else {
      for (const f of findings) {
        out.line(`${f.severity === 'info' ? out.style.cyan(f.rule) : out.style.yellow(f.rule)}: ${f.message}`);
        out.line(`  ${out.style.bold('fix')}: ${f.fix}`);
      }
      const counts = [warnings > 0 || infos === 0 ? `${warnings} finding${warnings === 1 ? '' : 's'}` : '', infos > 0 ? `${infos} info` : ''].filter(Boolean);
      out.line(`${counts.join(' and ')} in ${values.config}`);
    }
    return warnings > 0 ? 1 : 0;
  },
});
