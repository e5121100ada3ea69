import type { TLSSocket } from 'node:tls';
import { CertpinError, type PeerPin, type PinMismatchError } from '../errors.js';
import type { CaInput } from '../policy/config.js';
import { parsePin } from '../policy/pin.js';
import { assertPolicy, createPolicy, PinPolicy } from '../policy/policy.js';
import { connectTls, DEFAULT_TIMEOUT, isValidationError, servedCertificates } from '../probe/connect.js';
import type { InspectOptions } from '../probe/inspect.js';
import { endpointOf, parseTarget } from '../probe/target.js';
import { pinnedTlsOptions } from '../transports/tls.js';

/**
 * How a server fared in {@link verifyPins}:
 * - `pinned`: the chain passed standard validation and carries a trusted pin (the only `ok` outcome);
 * - `mismatch`: the verified chain carries none of the trusted pins (also for a report-only host);
 * - `untrusted`: the server's certificate failed standard validation (trust store, hostname, dates);
 * - `unpinned`: the policy has no pins for the host;
 * - `pins-expired`: the host's pin set is past its `expires` date, so the host runs unpinned;
 * - `unreachable`: no TLS handshake: the host could not be resolved or reached, or does not speak TLS.
 *
 * @example
 * ```js
 * const exitCode = { pinned: 0, unreachable: 2 }[result.outcome] ?? 1 // as `certpin verify` exits
 * ```
 */
export type VerifyOutcome = 'pinned' | 'mismatch' | 'untrusted' | 'unpinned' | 'pins-expired' | 'unreachable';

/**
 * What {@link verifyPins} found for one server: the `--json` shape of `certpin verify`.
 *
 * @example
 * ```js
 * const result = await verifyPins('api.example.com', ['sha256/…'])
 * if (!result.ok) console.error(`${result.outcome}: ${result.error}`)
 * for (const { pin, subject } of result.chain) console.log(pin === result.matched ? '*' : ' ', pin, subject)
 * ```
 */
export interface VerifyResult {
  /** The target as given. */
  target: string;
  /** The host as the target names it (before `resolve`). */
  host: string;
  /** The port connected to. */
  port: number;
  /** Whether the server presented a trusted pin in its verified chain (`outcome` is `pinned`). */
  ok: boolean;
  /** The trusted pin found in the verified chain, or null. */
  matched: string | null;
  /** The verified chain, leaf first; empty when the connection was refused before it could be proven. */
  chain: PeerPin[];
  /** Why the check failed (for a mismatch, the {@link PinMismatchError} message); null when `ok`. */
  error: string | null;
  outcome: VerifyOutcome;
  /** The trusted pins of the host: the chain had to carry one of them. */
  expected: string[];
}

/**
 * Options of {@link verifyPins}: the network options of {@link inspect}.
 *
 * @example
 * ```js
 * await verifyPins('api.example.com:8443', pins, { ca: readFileSync('corp-root.pem'), resolve: ['api.example.com:8443:10.0.0.5'], timeout: 5000 })
 * ```
 */
export interface VerifyOptions extends InspectOptions {
  /**
   * Trust only these roots (PEM/DER), like curl's --cacert. Only with a list of pins: a policy
   * validates against its own `ca`.
   */
  ca?: CaInput;
}

/**
 * The port a target without one is checked at: that of the first host entry of the policy (in its
 * order) whose pattern covers the host, as for the pin file's own entries ({@link probeTargets});
 * 443 without one.
 */
function entryPort(policy: PinPolicy, host: string): number | undefined {
  const keys = new Set(policy.rulesFor(host).map((rule) => rule.key));
  return policy.rules.find((rule) => keys.has(rule.key))?.port;
}

/**
 * Connects to a TLS server with full validation (trust store, hostname, dates) and checks its
 * verified chain, proven link by link to a trust anchor, against trusted pins: the data behind
 * `certpin verify`. No application data is sent. The pins are a list (the name the certificate is
 * checked against, `servername` or else the host, is then pinned to them), or a policy whose trusted
 * (active and backup) pins for the host apply; with a policy, a target without a port is checked at
 * the port of the host's entry (its `port`, else 443). A report-only host that mismatches is a
 * `mismatch` all the same: this function reports what it sees.
 *
 * Every failure to verify is a result, not an error: a pin mismatch, a certificate that fails
 * standard validation (`untrusted`), a server that cannot be reached (`unreachable`). What is thrown
 * is a bad argument.
 *
 * @param target - `host`, `host:port`, `[v6]:port` or an `https://` URL (port 443 by default).
 * @param pins - The trusted pins (`sha256/…`, `sha256//…` or `pin-sha256="…"`), at least one; or a
 *   policy from {@link createPolicy} or {@link loadPolicy}.
 * @param options - `resolve`, `servername` and `timeout` (milliseconds), and with a list of pins the
 *   trust store (`ca`).
 * @returns The outcome, the verified chain, the pin that matched and the pins that were expected.
 * @throws {@link CertpinError} `ERR_CERTPIN_INVALID_INPUT` for a bad target (or a file), or a bad
 *   `resolve` entry; `ERR_CERTPIN_INVALID_PIN` for a bad pin; `ERR_CERTPIN_INVALID_CONFIG` when the
 *   pinned name cannot be a host entry.
 * @throws TypeError for misuse: no pins, neither a list nor a policy, `ca` beside a policy, or a
 *   `timeout` that is not a positive number.
 * @example
 * ```js
 * import { verifyPins } from 'certpin'
 * const result = await verifyPins('api.example.com', ['sha256/x+5nW…=', 'sha256/Yq1n…='])
 * console.log(result.ok ? `OK, matched ${result.matched}` : `${result.outcome}: ${result.error}`)
 *
 * // every entry of a pin file, as `certpin verify --config pins.json` checks them
 * const policy = await loadPolicy('pins.json')
 * for (const { target } of probeTargets(policy.config)) if (target) console.log((await verifyPins(target, policy)).outcome)
 * ```
 */
export async function verifyPins(target: string, pins: readonly string[] | PinPolicy, options: VerifyOptions = {}): Promise<VerifyResult> {
  if (options.timeout !== undefined && !(Number.isFinite(options.timeout) && options.timeout > 0)) {
    throw new TypeError(`timeout must be a positive number of milliseconds, got ${String(options.timeout)}`);
  }
  let trusted: string[] | undefined;
  if (Array.isArray(pins)) {
    if (pins.length === 0) throw new TypeError('verifyPins needs at least one pin to expect');
    trusted = [...new Set((pins as readonly string[]).map((pin) => parsePin(pin)))];
  } else {
    assertPolicy(pins, 'verifyPins');
    if (options.ca !== undefined) throw new TypeError("verifyPins: a policy validates against its own ca; give ca to createPolicy, or a list of pins with ca here");
  }
  const parsed = parseTarget(target);
  if (parsed.kind === 'file') {
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `${JSON.stringify(target)} is a file; verifyPins needs a server: host, host:port, [v6]:port or https:// URL`);
  }
  const port = parsed.portGiven || trusted !== undefined ? parsed.port : entryPort(pins as PinPolicy, parsed.host) ?? parsed.port;
  const endpoint = endpointOf({ host: parsed.host, port }, options);
  // The name Node checks the certificate against, and so the host the pins are looked up for.
  const identity = endpoint.identity;
  let policy: PinPolicy;
  if (trusted === undefined) policy = pins as PinPolicy;
  else {
    const hosts = { [identity]: { pins: trusted } };
    policy = createPolicy(options.ca === undefined ? { hosts } : { hosts, ca: options.ca });
  }
  const base = { target, host: endpoint.host, port: endpoint.port };
  const expected = [...new Set(policy.rulesFor(identity).flatMap((rule) => rule.trustedPins))];
  let socket: TLSSocket;
  try {
    socket = await connectTls(endpoint, pinnedTlsOptions(policy, { port: endpoint.port }), options.timeout ?? DEFAULT_TIMEOUT);
  } catch (error) {
    const err = error as Error & { code?: string };
    if (!isValidationError(err)) return { ...base, ok: false, matched: null, chain: [], error: err.message, outcome: 'unreachable', expected };
    if (err.code === 'ERR_CERTPIN_MISMATCH') {
      return { ...base, ok: false, matched: null, chain: (err as PinMismatchError).peerPins, error: err.message, outcome: 'mismatch', expected };
    }
    const message = err.code && !err.message.includes(err.code) ? `${err.message} (${err.code})` : err.message;
    return { ...base, ok: false, matched: null, chain: [], error: `the server's certificate failed standard validation: ${message}`, outcome: 'untrusted', expected };
  }
  try {
    // The handshake check has passed (or the host is report-only): check again for the verdict itself.
    const result = policy.check(identity, servedCertificates(socket));
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
