import type { X509Certificate } from 'node:crypto';
import { CertpinError, PinMismatchError, type PeerPin } from '../errors.js';
import { certInfo, proveChain, TrustStore, type CertInfo, type ProvenChain } from '../chain/prove.js';
import { normalizeHostname } from './hosts.js';
import { showValue, validateConfig, warnExpiredPins, type HostRule, type PolicyConfig, type ValidatedConfig } from './config.js';
import { didYouMean } from '../lib/suggest.js';
import type { ViolationReport } from '../channels.js';

/**
 * How a connection fared against the policy:
 * - `pinned`: the verified chain carries a trusted pin of the host;
 * - `unpinned`: no pattern matches the host and `unpinned` is `allow`;
 * - `mismatch`: the host is pinned and its verified chain carries none of the pins
 *   (`ok` is false unless the host is report-only);
 * - `pins-expired`: the host's pin set is past `expires`: standard validation only, and reported;
 * - `unpinned-denied`: no pattern matches and `unpinned` is `deny`;
 * - `invalid-host`: a name normalises to nothing (`api.example.com..`): refused, never unpinned (docs/guarantees.md P1).
 *
 * @example
 * ```ts
 * import type { CheckOutcome } from 'certpin'
 * const label: Record<CheckOutcome, string> = {
 *   pinned: 'pin matched', unpinned: 'no pins (allowed)', mismatch: 'PIN MISMATCH',
 *   'pins-expired': 'pins expired: unpinned', 'unpinned-denied': 'no pins (denied)',
 * }
 * console.log(label[policy.check(host, chain).outcome])
 * ```
 */
export type CheckOutcome = 'pinned' | 'unpinned' | 'mismatch' | 'pins-expired' | 'unpinned-denied' | 'invalid-host';

/**
 * The names a connection is for (docs/guarantees.md C4): one hostname, or all of the URL host, the host dialled and
 * the TLS servername. The rules of every one apply (their union); the connection is unpinned only
 * when none of them is pinned.
 *
 * @example
 * ```js
 * // a request to https://api.example.com/ whose Host header (hence SNI) says other.example
 * policy.check(['api.example.com', 'other.example'], chain) // the pins of api.example.com apply
 * ```
 */
export type HostNames = string | readonly string[];

/**
 * The result of {@link PinPolicy.check}: whether the connection may proceed, and why.
 *
 * @example
 * ```js
 * const result = policy.check('api.example.com', [leaf, intermediate])
 * console.log(result.ok, result.outcome, result.matchedPin)
 * for (const { pin, subject } of result.chain) console.log(pin, subject) // the proven path, leaf first
 * ```
 */
export interface CheckResult {
  /** Whether the connection may proceed. */
  readonly ok: boolean;
  readonly outcome: CheckOutcome;
  /** The hostname as matched: lowercased, punycode, no trailing dot; of several names, the first pinned one. */
  readonly hostname: string;
  /** Every name checked, normalised (docs/guarantees.md C4: the connection is for all of them). */
  readonly names: readonly string[];
  /** Whether a failure here is enforced (false for report-only hosts and expired pin sets). */
  readonly enforced: boolean;
  /** The trusted pin found in the verified chain, or null. */
  readonly matchedPin: string | null;
  /** The proven path, leaf first: pin and subject per certificate. */
  readonly chain: readonly PeerPin[];
  /** Served certificates off the proven path: they never count. */
  readonly unproven: readonly PeerPin[];
  /** Whether the proven path reaches a trust anchor of the policy's store. */
  readonly anchored: boolean;
  readonly expectedPins: readonly string[];
  /** Present when `ok` is false, or for a report-only mismatch: the error a transport raises. */
  readonly error: CertpinError | undefined;
  /** Whether this connection must be reported (mismatch, report-only mismatch, expired pin set). */
  readonly violation: boolean;
  /** The matching host entries (their `reportUri`, `expires`, `includeSubdomains`). */
  readonly rules: readonly HostRule[];
}

/**
 * Options of {@link createPolicy} (and, through {@link LoadPolicyOptions}, of `loadPolicy`).
 *
 * @example
 * ```js
 * import { createPolicy } from 'certpin'
 * const policy = createPolicy(config, { onViolation: (report) => log.warn(`pin violation on ${report.hostname}: ${report.reason}`) })
 * ```
 */
export interface PolicyOptions {
  /**
   * Called (synchronously, errors swallowed) for every violating connection. May be given in the
   * configuration object instead (`createPolicy({ hosts, onViolation })`), never in both with two
   * different functions.
   */
  onViolation?: (report: ViolationReport) => void;
}

/**
 * Options of {@link PinPolicy.check}.
 *
 * @example
 * ```js
 * // the transports pass the trust store a connection was validated against; without it the policy's own applies
 * const result = policy.check('api.example.com', chain, {})
 * ```
 */
export interface CheckOptions {
  /** The trust store the connection was validated against, when not the policy's own. */
  trustStore?: TrustStore;
  /** The time of the check (ms since the epoch): paths are valid under RFC 5280 at this instant, and pin sets' `expires` are read at it. @default Date.now() */
  now?: number;
}

const POLICY_OPTION_KEYS: readonly string[] = ['onViolation'];

/** A configuration that is not an object at all is a misused argument (TypeError), not a bad field. */
function checkConfigArgument(config: unknown, caller: string): void {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`${caller} expects a configuration object such as { hosts: { 'api.example.com': { pins: [...] } } }, got ${showValue(config)}`);
  }
}

const toPeerPin = (c: CertInfo): PeerPin => ({ pin: c.pin, subject: c.subject });

/** The first trusted pin on any valid path (docs/guarantees.md C1, C2: a pin on any valid path counts, leaf first), and that path. */
function findPin(proven: ProvenChain, expected: readonly string[]): { pin: string; path: readonly CertInfo[] } | undefined {
  if (!proven.anchored) return undefined;
  for (const path of proven.paths) {
    for (const cert of path) if (expected.includes(cert.pin)) return { pin: cert.pin, path };
  }
  return undefined;
}

type CheckBase = Pick<CheckResult, 'hostname' | 'names' | 'chain' | 'unproven' | 'anchored' | 'rules'>;

/** Listed property by property: V8 takes a slow path (tens of µs) for `{ ...base, …12 more }` here. */
function withBase(base: CheckBase, rest: Omit<CheckResult, keyof CheckBase>): CheckResult {
  return {
    ok: rest.ok, outcome: rest.outcome, hostname: base.hostname, names: base.names, enforced: rest.enforced, matchedPin: rest.matchedPin,
    chain: base.chain, unproven: base.unproven, anchored: base.anchored, expectedPins: rest.expectedPins,
    error: rest.error, violation: rest.violation, rules: base.rules,
  };
}

/**
 * An immutable-looking, atomically updatable pin policy. Build it with {@link createPolicy}.
 *
 * @example
 * ```js
 * import { createPolicy } from 'certpin'
 * const policy = createPolicy({ hosts: { 'api.example.com': { pins: [currentPin, { pin: backupPin, status: 'backup' }] } } })
 * const result = policy.check('api.example.com', [leaf, intermediate]) // X509Certificate[], leaf first
 * if (!result.ok) throw result.error
 * policy.update({ hosts: { 'api.example.com': { pins: [nextPin, { pin: backupPin, status: 'backup' }] } } })
 * ```
 */
export class PinPolicy {
  #config: ValidatedConfig;
  #source: PolicyConfig;
  #trustStore: TrustStore;
  #explicitCa: boolean;
  #version = 1;
  #onViolation: ((report: ViolationReport) => void) | undefined;
  readonly #updateListeners = new Set<() => void>();
  #caKey: string | undefined;

  /** @internal use {@link createPolicy} */
  constructor(config: PolicyConfig, options: PolicyOptions = {}) {
    checkConfigArgument(config, 'createPolicy');
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new TypeError(`createPolicy: the options must be an object such as { onViolation }, got ${showValue(options)}`);
    }
    for (const key of Object.keys(options)) {
      if (!POLICY_OPTION_KEYS.includes(key)) throw new TypeError(`createPolicy: unknown option ${JSON.stringify(key)}${didYouMean(key, POLICY_OPTION_KEYS)}`);
    }
    if (options.onViolation !== undefined && typeof options.onViolation !== 'function') {
      throw new TypeError('onViolation must be a function');
    }
    this.#config = validateConfig(config);
    // One callback, wherever it was given; two different ones would leave a reader guessing which runs.
    if (options.onViolation !== undefined && config.onViolation !== undefined && options.onViolation !== config.onViolation) {
      throw new TypeError('createPolicy: onViolation is given both in the configuration and in the options; give it once');
    }
    this.#source = config;
    this.#explicitCa = config.ca !== undefined;
    this.#trustStore = config.ca === undefined ? TrustStore.default() : TrustStore.from(config.ca, 'ca');
    this.#caKey = caKey(config.ca);
    this.#onViolation = options.onViolation ?? config.onViolation;
    warnExpiredPins(this.#config);
  }

  /** Called (synchronously, errors swallowed) for every violating connection: from the options or the configuration. */
  get onViolation(): ((report: ViolationReport) => void) | undefined {
    return this.#onViolation;
  }

  /** Increases with every {@link PinPolicy.update}: transports tag sockets and sessions with it (G2). */
  get version(): number {
    return this.#version;
  }

  /** The configuration in force, as given. */
  get config(): PolicyConfig {
    return this.#source;
  }

  get unpinned(): 'allow' | 'deny' {
    return this.#config.unpinned;
  }

  get rules(): readonly HostRule[] {
    return this.#config.rules;
  }

  /** The anchors pins are proven against: the policy's `ca`, else Node's roots and `NODE_EXTRA_CA_CERTS`. */
  get trustStore(): TrustStore {
    return this.#trustStore;
  }

  /** PEM anchors to hand to `tls.connect` when the policy has its own `ca`, else undefined (Node's default). */
  get ca(): readonly string[] | undefined {
    return this.#explicitCa ? this.#trustStore.pems : undefined;
  }

  /**
   * Swaps the whole configuration atomically. Before it returns, every open connection and cached TLS
   * session of the pinned transports is re-checked with the chain it was verified with: kept if it
   * passes the new policy, closed (or forgotten) if not (G2). Throws, leaving the policy as it was,
   * when the new configuration is invalid.
   *
   * @example
   * ```js
   * policy.update({ hosts: { 'api.example.com': { pins: [newPin, backupPin] } } })
   * ```
   */
  update(config: PolicyConfig): void {
    checkConfigArgument(config, 'policy.update');
    const validated = validateConfig(config);
    // The same anchors keep the same store (parsing them costs ~1 ms, and a new store re-proves
    // every chain): an update that changes nothing for a host costs it nothing (G2, docs/performance.md).
    const key = caKey(config.ca);
    const trustStore = config.ca === undefined
      ? TrustStore.default()
      : key === this.#caKey ? this.#trustStore : TrustStore.from(config.ca, 'ca');
    this.#caKey = key;
    this.#config = validated;
    this.#source = config;
    this.#trustStore = trustStore;
    this.#explicitCa = config.ca !== undefined;
    if (config.onViolation !== undefined) this.#onViolation = config.onViolation;
    this.#version++;
    warnExpiredPins(validated);
    // The transports re-check their open connections now, before any other code can write on one (G2).
    for (const listener of this.#updateListeners) listener();
  }

  /**
   * @internal Runs `listener` synchronously at the end of every {@link PinPolicy.update}; it must not
   * throw. Returns the function that removes it.
   */
  onUpdate(listener: () => void): () => void {
    this.#updateListeners.add(listener);
    return () => this.#updateListeners.delete(listener);
  }

  /**
   * The host entries whose pattern matches `hostname` (normalised first), without duplicates; for
   * several names, the entries of all of them (docs/guarantees.md C4).
   */
  rulesFor(hostname: HostNames): HostRule[] {
    if (typeof hostname === 'string') {
      const found = this.#config.index.lookup(normalizeHostname(hostname));
      return found.length > 1 ? [...new Set(found)] : found;
    }
    const found = hostname.flatMap((name) => this.#config.index.lookup(normalizeHostname(name)));
    return found.length > 1 ? [...new Set(found)] : found;
  }

  /**
   * Whether connections to `hostname` must each run the full check, never resuming a TLS session:
   * its pins are report-only or past `expires`, so a violating connection still succeeds, and a
   * resumed session (which skips the check, docs/node-tls.md N1) would go unreported (docs/policy.md, docs/runbook.md).
   */
  reportsEveryConnection(hostname: HostNames): boolean {
    const rules = this.rulesFor(hostname);
    if (rules.length === 0) return false;
    const now = Date.now();
    return !rules.some((r) => r.enforce && (r.expiresAt === undefined || now <= r.expiresAt));
  }

  /**
   * Checks a served chain (leaf first, as the server sent it) for `hostname`, or for every name a
   * connection is for (docs/guarantees.md C4: URL host, host dialled, servername; the union of their rules applies).
   * Pure: no I/O, no reporting. Only the path proven from the leaf to a trust anchor counts (docs/guarantees.md C1, C2).
   * A name that normalises to nothing is refused (`invalid-host`), never treated as unpinned.
   *
   * @example
   * ```js
   * const result = policy.check('api.example.com', [leaf, intermediate])
   * if (!result.ok) throw result.error
   * policy.check(['api.example.com', 'other.example'], [leaf, intermediate]) // the pins of both apply
   * ```
   */
  check(hostname: HostNames, chain: readonly X509Certificate[], options: CheckOptions = {}): CheckResult {
    return this.checkCertInfos(hostname, chain.map(certInfo), options);
  }

  /** @internal the same, from cached certificate facts (the transports' fast path). */
  checkCertInfos(hostname: HostNames, served: readonly CertInfo[], options: CheckOptions = {}): CheckResult {
    const names = normalizedNames(hostname);
    const rules = names.length === 1 ? this.rulesFor(names[0]!) : this.rulesFor(names);
    const name = names.length === 1 || rules.length === 0 ? (names[0] ?? '') : pinnedName(this, names);
    const store = options.trustStore ?? this.#trustStore;
    const now = options.now ?? Date.now();
    if (!Number.isFinite(now)) throw new TypeError(`options.now must be a time in milliseconds since the epoch, not ${String(options.now)}`);
    const proven: ProvenChain = proveChain(served, store, { now });
    const base = {
      hostname: name,
      names,
      chain: proven.path.map(toPeerPin),
      unproven: proven.unproven.map(toPeerPin),
      anchored: proven.anchored,
      rules,
    };
    if (names.length === 0 || names.includes('')) {
      const given = typeof hostname === 'string' ? [hostname] : hostname;
      const error = new CertpinError(
        'ERR_CERTPIN_INVALID_INPUT',
        given.length === 0
          ? 'no hostname to check the connection against'
          : `${JSON.stringify(given[names.indexOf('')] ?? '')} is not a hostname certpin can match (it normalises to nothing): the connection is refused rather than treated as unpinned`,
      );
      return withBase(base, { ok: false, outcome: 'invalid-host', enforced: true, matchedPin: null, expectedPins: [], error, violation: false });
    }
    if (rules.length === 0) {
      if (this.#config.unpinned === 'allow') {
        return withBase(base, { ok: true, outcome: 'unpinned', enforced: false, matchedPin: null, expectedPins: [], error: undefined, violation: false });
      }
      const error = new CertpinError(
        'ERR_CERTPIN_UNPINNED_HOST',
        `${name} has no pins and the policy refuses unpinned hosts (settings.unpinned: "deny"); add pins for it, e.g. with \`certpin init ${name}\``,
      );
      return withBase(base, { ok: false, outcome: 'unpinned-denied', enforced: true, matchedPin: null, expectedPins: [], error, violation: false });
    }
    const live = rules.filter((r) => r.expiresAt === undefined || now <= r.expiresAt);
    if (live.length === 0) {
      return withBase(base, { ok: true, outcome: 'pins-expired', enforced: false, matchedPin: null, expectedPins: [], error: undefined, violation: true });
    }
    const expected = live.length === 1 ? live[0]!.trustedPins : [...new Set(live.flatMap((r) => r.trustedPins))];
    const enforced = live.some((r) => r.enforce);
    const matched = findPin(proven, expected);
    if (matched) {
      if (matched.path !== proven.path) base.chain = matched.path.map(toPeerPin);
      return withBase(base, { ok: true, outcome: 'pinned', enforced, matchedPin: matched.pin, expectedPins: expected, error: undefined, violation: false });
    }
    const detail = proven.anchored
      ? proven.exhausted ? proven.problem : undefined
      : `the chain could not be proven to a trust anchor: ${proven.problem ?? 'no valid path'}`;
    const error = new PinMismatchError(name, base.chain, [...expected], detail);
    return withBase(base, { ok: !enforced, outcome: 'mismatch', enforced, matchedPin: null, expectedPins: expected, error, violation: true });
  }
}

/** The anchors of a `ca` option as one string, to tell an update that keeps them (in place edits included). */
function caKey(ca: PolicyConfig['ca']): string | undefined {
  if (ca === undefined) return undefined;
  const list: ReadonlyArray<string | Uint8Array> = Array.isArray(ca) ? ca : [ca as string | Uint8Array];
  return list.map((item) => (typeof item === 'string' ? `p${item}` : `d${Buffer.from(item).toString('base64')}`)).join('\0');
}

/** Normalised, without duplicates, in the order given (a name that normalises to nothing stays as ''). */
function normalizedNames(hostname: HostNames): string[] {
  if (typeof hostname === 'string') return [normalizeHostname(hostname)];
  const names: string[] = [];
  for (const name of hostname) {
    const normal = typeof name === 'string' ? normalizeHostname(name) : '';
    if (!names.includes(normal)) names.push(normal);
  }
  return names;
}

/** The name errors and reports speak of: the first one with pins. */
function pinnedName(policy: PinPolicy, names: readonly string[]): string {
  return names.find((name) => policy.rulesFor(name).length > 0) ?? names[0] ?? '';
}

/**
 * @internal Refuses anything but a policy where a transport needs one: `pinnedAgent(undefined)` or
 * `pinnedDispatcher({})` would otherwise fail later inside a TLS callback, or not at all.
 */
export function assertPolicy(value: unknown, caller: string): asserts value is PinPolicy {
  if (!(value instanceof PinPolicy)) {
    throw new TypeError(`${caller} expects a policy from createPolicy() or loadPolicy() (of this copy of certpin), got ${showValue(value)}`);
  }
}

/**
 * Validates a configuration and builds a policy. Throws `ERR_CERTPIN_INVALID_CONFIG` naming the field
 * at fault, or `ERR_CERTPIN_INVALID_INPUT` for an unreadable `ca`; a `TypeError` when `config` or
 * `options` is not an object, or an option is unknown.
 *
 * Strict: an unknown key anywhere (`includeSubdomain`, `enforse`, `unpinned` at the top level instead
 * of under `settings`) is refused, naming the key, where it is and the nearest known key, so that a
 * typo never leaves a host unpinned; `note` and `x-…` keys, at every level, are your annotations. Values
 * JSON cannot hold (BigInt, a circular object, nesting deeper than 64 levels) are refused the same way.
 * `onViolation` may be given in the options or in the configuration. An entry whose `expires` has
 * already passed is reported once per process as a `CertpinWarning` (code `CERTPIN_PINS_EXPIRED`).
 *
 * @example
 * ```js
 * import { createPolicy } from 'certpin'
 * const policy = createPolicy({
 *   hosts: {
 *     'api.example.com': { pins: ['sha256/…current…=', { pin: 'sha256/…backup…=', status: 'backup' }] },
 *   },
 * })
 * ```
 */
export function createPolicy(config: PolicyConfig, options: PolicyOptions = {}): PinPolicy {
  return new PinPolicy(config, options);
}
