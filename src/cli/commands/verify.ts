import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { PeerPin, PinMismatchError } from '../../errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { CertpinError } from '../../errors.js';
import { readCryptoObjects } from '../../lib/pem.js';
import { parsePin, pinOfSpki } from '../../policy/pin.js';
import { createPolicy, type PinPolicy } from '../../policy/policy.js';
import { pinnedTlsOptions } from '../../transports/tls.js';
import { connectTls, isValidationError } from '../../probe/connect.js';
import { defineCommand, UsageError } from '../command.js';
import { endpointOf, NETWORK_OPTIONS, NETWORK_USAGE, networkOptions, parseServerTarget, readCaFile } from '../net.js';
import { inOrder, mapConcurrent, type Output } from '../output.js';
import { readConfigFile } from '../pinfile.js';
import { formatTarget, probeTargets, type ProbeTarget } from '../../pinfile/targets.js';
import { concurrencyOf } from './pins.js';

/** One target's verdict; the `--json` shape of docs/cli.md plus `port`, `outcome` and `expected`. */
interface VerifyResult {
  target: string;
  host: string;
  port: number;
  ok: boolean;
  /** The trusted pin found in the verified chain, or null. */
  matched: string | null;
  /** The verified chain, leaf first (empty when the connection was refused before it could be proven). */
  chain: PeerPin[];
  error: string | null;
  /** pinned | mismatch | untrusted | unpinned | pins-expired | unreachable */
  outcome: string;
  expected: string[];
}

interface Job {
  target: string;
  host: string;
  port: number;
}

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_UNREACHABLE = 2;

/**
 * The policy of a pin file, the hosts it names, and where each entry is checked ({@link probeTargets},
 * the answer `expiry`, `rotate` and `metrics` give too).
 */
async function pinFilePolicy(path: string, ca: Buffer | undefined): Promise<{ policy: PinPolicy; hosts: Array<{ key: string; port: number }>; targets: ProbeTarget[] }> {
  const { document } = await readConfigFile(path);
  const { ca: _fileCa, ...config } = document;
  const policy = createPolicy(ca === undefined ? config : { ...config, ca });
  const hosts = Object.entries(document.hosts).map(([key, entry]) => ({ key, port: entry.port ?? 443 }));
  return { policy, hosts, targets: probeTargets(document) };
}


function servedChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  for (let cert = socket.getPeerX509Certificate(); cert && !seen.has(cert.fingerprint256) && chain.length < 32; cert = cert.issuerCertificate) {
    seen.add(cert.fingerprint256);
    chain.push(cert);
  }
  return chain;
}

async function verifyOne(job: Job, policy: PinPolicy, network: ReturnType<typeof networkOptions>): Promise<VerifyResult> {
  const endpoint = endpointOf(job, network);
  // The name Node checks the certificate against, and so the host the pins are looked up for.
  const identity = endpoint.identity;
  const base = { target: job.target, host: endpoint.host, port: endpoint.port };
  const expected = [...new Set(policy.rulesFor(identity).flatMap((rule) => rule.trustedPins))];
  let socket;
  try {
    socket = await connectTls(endpoint, pinnedTlsOptions(policy, { port: endpoint.port }), network.timeout);
  } catch (error) {
    const err = error as Error & { code?: string; peerPins?: PeerPin[] };
    if (!isValidationError(err)) return { ...base, ok: false, matched: null, chain: [], error: err.message, outcome: 'unreachable', expected };
    if (err.code === 'ERR_CERTPIN_MISMATCH') {
      return { ...base, ok: false, matched: null, chain: (err as PinMismatchError).peerPins, error: err.message, outcome: 'mismatch', expected };
    }
    const message = err.code && !err.message.includes(err.code) ? `${err.message} (${err.code})` : err.message;
    return { ...base, ok: false, matched: null, chain: [], error: `the server's certificate failed standard validation: ${message}`, outcome: 'untrusted', expected };
  }
  try {
    // The handshake check has passed (or the host is report-only); check again for the verdict itself.
    const result = policy.check(identity, servedChain(socket));
    const chain = [...result.chain];
    switch (result.outcome) {
      case 'pinned':
        return { ...base, ok: true, matched: result.matchedPin, chain, error: null, outcome: 'pinned', expected };
      case 'mismatch':
        return { ...base, ok: false, matched: null, chain, error: result.error?.message ?? `Certificate pinning failure for ${identity}`, outcome: 'mismatch', expected };
      case 'pins-expired':
        return { ...base, ok: false, matched: null, chain, error: `the pins for ${identity} are past their "expires" date: the host runs unpinned`, outcome: 'pins-expired', expected };
      default:
        return { ...base, ok: false, matched: null, chain, error: `${identity} has no pins to verify against`, outcome: 'unpinned', expected };
    }
  } finally {
    socket.destroy();
  }
}

/**
 * The pins one `--pin` stands for, as curl's --pinnedpubkey takes them: a pin (sha256/…, sha256//…,
 * pin-sha256="…"), a `;`-separated list of them, or a file holding a public or private key, a
 * certificate or bundle, or a CSR (every key in it).
 */
function pinsOfOption(text: string): string[] {
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
  let objects;
  try {
    objects = readCryptoObjects(readFileSync(text), text);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'EACCES') throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `cannot read --pin ${text}: ${code === 'EISDIR' ? 'it is a directory' : 'permission denied'}`, { cause: error });
    throw error;
  }
  return objects.map((object) => pinOfSpki(object.spki));
}

function exitCodeOf(result: VerifyResult): number {
  if (result.ok) return EXIT_OK;
  return result.outcome === 'unreachable' ? EXIT_UNREACHABLE : EXIT_FAILED;
}

function printResult(out: Output, result: VerifyResult): void {
  const where = formatTarget(result.host, result.port);
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

    let policy: PinPolicy;
    let jobs: Job[];
    if (values.config !== undefined) {
      const file = await pinFilePolicy(values.config, ca);
      policy = file.policy;
      if (positionals.length > 0) {
        jobs = positionals.map((target) => {
          const { host, port, portGiven } = parseServerTarget(target);
          const entry = file.hosts.find((h) => policy.rulesFor(host).some((rule) => rule.key === h.key));
          return { target, host, port: portGiven ? port : entry?.port ?? port };
        });
      } else {
        jobs = [];
        for (const { target, reason } of file.targets) {
          if (target === null) {
            out.warn(`${reason ?? 'an entry cannot be checked'}; or name a host on the command line`);
            continue;
          }
          const { host, port } = parseServerTarget(target);
          jobs.push({ target, host, port });
        }
        if (jobs.length === 0) throw new UsageError(`${values.config} names no host that can be checked`);
      }
    } else {
      const trusted = [...new Set(pins.flatMap(pinsOfOption))];
      jobs = positionals.map((target) => {
        const { host, port } = parseServerTarget(target);
        return { target, host, port };
      });
      const hosts: Record<string, { pins: string[] }> = {};
      for (const job of jobs) {
        const endpoint = endpointOf(job, network);
        hosts[endpoint.identity] = { pins: trusted };
      }
      policy = createPolicy(ca === undefined ? { hosts } : { hosts, ca });
    }

    const progress = out.progress(jobs.length, 'verify');
    let results: VerifyResult[];
    // Text streams: each verdict is printed once it and every one before it are done.
    const emit = inOrder<VerifyResult>((result) => {
      if (!json) printResult(out, result);
    });
    try {
      results = await mapConcurrent(jobs, concurrency, async (job, index) => {
        const result = await verifyOne(job, policy, network);
        progress.tick(job.target);
        emit(index, result);
        return result;
      });
    } finally {
      progress.done();
    }
    if (json) out.json({ results });
    return Math.max(...results.map(exitCodeOf));
  },
});
