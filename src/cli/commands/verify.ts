import { existsSync } from 'node:fs';
import { CertpinError, isCertpinError } from '../../errors.js';
import { verifyPins, type VerifyResult } from '../../ops/verify.js';
import { probeTargets } from '../../pinfile/targets.js';
import { parsePin } from '../../policy/pin.js';
import { createPolicy, type PinPolicy } from '../../policy/policy.js';
import { inspect } from '../../probe/inspect.js';
import { defineCommand, UsageError } from '../command.js';
import { formatHostPort, NETWORK_OPTIONS, NETWORK_USAGE, networkOptions, parseServerTarget, readCaFile } from '../net.js';
import { runTargets, type Output } from '../output.js';
import { readConfigFile } from '../pinfile.js';
import { concurrencyOf } from './pins.js';

// The verdict on each server is the library's (verifyPins); this command reads the arguments, says
// what to check against what, and prints.

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_UNREACHABLE = 2;

/**
 * The policy of a pin file (its own `ca` replaced by `--ca`, when given) and where each entry is
 * checked ({@link probeTargets}, the answer `expiry`, `rotate` and `metrics` give too).
 */
async function pinFilePolicy(path: string, ca: Buffer | undefined): Promise<{ policy: PinPolicy; targets: ReturnType<typeof probeTargets> }> {
  const { document } = await readConfigFile(path);
  const { ca: _fileCa, ...config } = document;
  const policy = createPolicy(ca === undefined ? config : { ...config, ca });
  return { policy, targets: probeTargets(document) };
}

/**
 * The pins one `--pin` stands for, as curl's --pinnedpubkey takes them: a pin (sha256/…, sha256//…,
 * pin-sha256="…"), a `;`-separated list of them, or a file holding a public or private key, a
 * certificate or bundle, or a CSR (every key in it, as `certpin pins FILE` lists them).
 */
async function pinsOfOption(text: string): Promise<string[]> {
  if (!existsSync(text)) {
    try {
      return text.split(';').map((part) => part.trim()).filter(Boolean).map((part) => parsePin(part));
    } catch (error) {
      // A path that names no file reads better as that than as a malformed pin.
      if (/[/\\]|\.(pem|crt|cer|der|key|pub|csr)$/i.test(text) && !/^(sha\d*\/|pin-sha)/i.test(text.trim())) {
        throw new UsageError(`--pin ${JSON.stringify(text)} is neither a pin (sha256/…, sha256//…, a ;-separated list) nor a file`);
      }
      throw error;
    }
  }
  try {
    return (await inspect(text)).chain.map((entry) => entry.pin);
  } catch (error) {
    // The library says which file cannot be read; the CLI names the option it came from.
    const code = (error as { cause?: NodeJS.ErrnoException }).cause?.code;
    if (isCertpinError(error, 'ERR_CERTPIN_INVALID_INPUT') && (code === 'EISDIR' || code === 'EACCES')) {
      throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `cannot read --pin ${text}: ${code === 'EISDIR' ? 'it is a directory' : 'permission denied'}`, { cause: (error as { cause?: unknown }).cause });
    }
    throw error;
  }
}

function exitCodeOf(result: VerifyResult): number {
  if (result.ok) return EXIT_OK;
  return result.outcome === 'unreachable' ? EXIT_UNREACHABLE : EXIT_FAILED;
}

function printResult(out: Output, result: VerifyResult): void {
  const where = formatHostPort(result.host, result.port);
  if (result.ok) {
    const cert = result.chain.find((c) => c.pin === result.matched);
    out.line(`${out.style.green('OK')}    ${where}  matched ${out.style.cyan(result.matched ?? '')}${cert ? ` (${cert.subject})` : ''}`);
    return;
  }
  if (result.outcome === 'unreachable') {
    out.line(`${out.style.red('ERROR')} ${where}  unreachable`);
    out.note(`certpin: ${result.target}: ${result.error}`);
    return;
  }
  // The mismatch message verbatim (the PinMismatchError layout), so it reads the same as the library's error.
  out.line(`${out.style.red('FAIL')}  ${where}`);
  out.line(result.error ?? '');
}

export default defineCommand({
  name: 'verify',
  summary: 'check that servers present a pinned key in their verified chain',
  usage: `Usage: certpin verify TARGET… --pin PIN… [options]
       certpin verify --config pins.json [HOST…] [options]

Connects with full validation (trust store, hostname, dates) and checks the verified chain, proven
link by link to a trust anchor, against the pins: those given with --pin (sha256/…, sha256//… or
pin-sha256="…"), or the trusted (active and backup) pins of each host in a pin file. With --config
and no HOST, every host entry of the file is checked (at its "port", 443 by default; a wildcard
entry at its "probeHost"). No application data is sent.

Options:
  --pin PIN                  a trusted pin (repeatable): sha256/…, sha256//… or pin-sha256="…", a
                             ;-separated list as curl --pinnedpubkey takes (sha256//A;sha256//B),
                             or a key, certificate or CSR file (its keys' pins)
  --config FILE              a pin file (pins.json) instead of --pin
  --json                     print {"results":[{target, host, ok, matched, chain, error}]}
  --concurrency N            check at most N servers at once (default 8)
${NETWORK_USAGE}

Exit status: 0 every server presented a pinned key; 1 some did not, or failed standard validation
(the mismatch is printed); 2 a server was unreachable, or a usage error or bad input.

Examples:
  certpin verify api.example.com --pin sha256/x+5nW…= --pin sha256/Yq1n…=
  certpin verify --config pins.json
  certpin verify --config pins.json api.example.com:8443 --json`,
  options: { ...NETWORK_OPTIONS, pin: { type: 'string', multiple: true }, config: { type: 'string' }, concurrency: { type: 'string' } },
  allowPositionals: true,
  async run({ values, positionals, json, out }) {
    const pins = values.pin ?? [];
    if (values.config !== undefined && pins.length > 0) throw new UsageError('give either --pin or --config, not both');
    if (values.config === undefined && pins.length === 0) throw new UsageError('give the pins to expect with --pin PIN, or a pin file with --config FILE');
    if (values.config === undefined && positionals.length === 0) throw new UsageError('give at least one TARGET to verify');
    const network = networkOptions({ ...values, ca: undefined });
    const concurrency = concurrencyOf(values.concurrency);
    const ca = values.ca === undefined ? undefined : readCaFile(values.ca);

    // What each target is checked against: the pin file's policy, or the --pin list (with --ca).
    let against: PinPolicy | string[];
    let targets: readonly string[];
    if (values.config !== undefined) {
      const file = await pinFilePolicy(values.config, ca);
      against = file.policy;
      if (positionals.length > 0) targets = positionals;
      else {
        const entries: string[] = [];
        for (const { target, reason } of file.targets) {
          if (target === null) out.warn(`${reason ?? 'an entry cannot be checked'}; or name a host on the command line`);
          else entries.push(target);
        }
        targets = entries;
        if (targets.length === 0) throw new UsageError(`${values.config} names no host that can be checked`);
      }
    } else {
      const trusted: string[] = [];
      for (const pin of pins) trusted.push(...(await pinsOfOption(pin)));
      against = [...new Set(trusted)];
      targets = positionals;
    }
    // Every target is read before any connection: a file or a malformed one stops the run here.
    for (const target of targets) parseServerTarget(target);
    const options = Array.isArray(against) && ca !== undefined ? { ...network, ca } : network;

    // Text streams: each verdict is printed once it and every one before it are done.
    const results = await runTargets(out, 'verify', targets, concurrency, (target) => verifyPins(target, against, options), (result) => {
      if (!json) printResult(out, result);
    });
    if (json) out.json({ results });
    return Math.max(...results.map(exitCodeOf));
  },
});
