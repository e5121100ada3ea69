import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { X509Certificate, type KeyObject } from 'node:crypto';
import { pinOfSpki, spkiOf } from '../policy/pin.js';
import { formatName, readCertificates } from '../lib/pem.js';
import { OID, parseCertificate, spkiBytes, type NameConstraints, type ParsedCertificate } from './certificate.js';
import { DerError } from '../lib/der.js';
import { constraintsProblem, looksLikeHostname, nameConstraintsViolation, type ComparisonBudget, type ConstrainedNames } from './name-constraints.js';

/** A certificate with everything pinning needs, computed once per distinct certificate. */
export interface CertInfo {
  readonly x509: X509Certificate;
  /** SHA-256 of the DER certificate, `AA:BB:…`, as Node prints it: the cache key. */
  readonly fingerprint256: string;
  readonly pin: string;
  /** RFC 4514 order, most specific first: `CN=api.example.com, O=Example`. */
  readonly subject: string;
  readonly issuer: string;
  readonly isCA: boolean;
  readonly selfIssued: boolean;
}

/** A peer certificate as `tlsSocket.getPeerCertificate(true)` and `checkServerIdentity` give it. */
export interface LegacyPeerCertificate {
  raw?: Buffer;
  fingerprint256?: string;
  issuerCertificate?: LegacyPeerCertificate;
}

const MAX_CACHED = 10_000;
const byObject = new WeakMap<X509Certificate, CertInfo>();
const byFingerprint = new Map<string, CertInfo>();

function remember<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  if (map.size >= limit) map.delete(map.keys().next().value as K);
  map.set(key, value);
}

/**
 * A leaf may have an empty subject when its subjectAltName names it (RFC 5280 4.1.2.6), and Node then
 * gives `subject` as undefined (docs/node-tls.md N17): show its names instead.
 */
function emptySubjectLabel(x509: X509Certificate): string {
  return x509.subjectAltName ? `(empty subject; ${x509.subjectAltName})` : '(empty subject)';
}

/** A certificate whose key Node cannot read has no pin; this text can never equal a parsed pin. */
function pinOrPlaceholder(x509: X509Certificate): string {
  try {
    // Node parsed the certificate, so its SPKI is well-formed DER: the same bytes spkiOf() would export.
    return pinOfSpki(spkiBytes(x509.raw));
  } catch {
    // fall back to Node's encoder
  }
  try {
    return pinOfSpki(spkiOf(x509));
  } catch {
    return '(no pin: unreadable public key)';
  }
}

function buildInfo(x509: X509Certificate): CertInfo {
  return {
    x509,
    fingerprint256: x509.fingerprint256,
    pin: pinOrPlaceholder(x509),
    subject: formatName(x509.subject) || emptySubjectLabel(x509),
    issuer: formatName(x509.issuer) || '(empty issuer)',
    isCA: x509.ca,
    selfIssued: x509.subject === x509.issuer,
  };
}

/** The cached facts of a certificate. Parsing, hashing and key export happen once per certificate. */
export function certInfo(x509: X509Certificate): CertInfo {
  let info = byObject.get(x509);
  if (info) return info;
  const fingerprint = x509.fingerprint256;
  info = byFingerprint.get(fingerprint);
  if (!info) {
    info = buildInfo(x509);
    remember(byFingerprint, fingerprint, info, MAX_CACHED);
  }
  byObject.set(x509, info);
  return info;
}

/** The same, from a legacy peer certificate object; its `fingerprint256` is ready-made, so a cache hit parses nothing. */
export function certInfoFromLegacy(peer: LegacyPeerCertificate): CertInfo | undefined {
  const cached = peer.fingerprint256 === undefined ? undefined : byFingerprint.get(peer.fingerprint256);
  if (cached) return cached;
  if (!peer.raw) return undefined;
  return certInfo(new X509Certificate(peer.raw));
}

/**
 * Every certificate in a `getPeerCertificate(true)` chain, leaf first. Node links these by issuer
 * name only (docs/node-tls.md N3), so they are candidates for the prover, never a proven path.
 */
export function candidatesFromLegacy(leaf: LegacyPeerCertificate): CertInfo[] {
  const out: CertInfo[] = [];
  const seen = new Set<LegacyPeerCertificate>();
  for (let cert: LegacyPeerCertificate | undefined = leaf; cert && !seen.has(cert) && out.length < 32; cert = cert.issuerCertificate) {
    seen.add(cert);
    const info = certInfoFromLegacy(cert);
    if (info) out.push(info);
  }
  return out;
}

let storeIds = 0;

/**
 * A set of trust anchors: the default roots, or the `ca` of a policy (which then replaces them, as
 * curl's `--cacert` does).
 */
export class TrustStore {
  readonly id = ++storeIds;
  #load: (() => X509Certificate[]) | undefined;
  #certificates: readonly X509Certificate[] | undefined;
  #pems: readonly string[] | undefined;
  #fingerprints: Set<string> | undefined;
  #bySubject: Map<string, X509Certificate[]> | undefined;

  /**
   * Indexing is deferred to the first lookup: building the default store eagerly (pins, fingerprints
   * and names of ~150 roots) would cost every process that merely creates a policy.
   */
  constructor(certificates: X509Certificate[] | (() => X509Certificate[])) {
    if (typeof certificates === 'function') this.#load = certificates;
    else this.#certificates = certificates;
  }

  get #all(): readonly X509Certificate[] {
    if (!this.#certificates) {
      this.#certificates = this.#load?.() ?? [];
      this.#load = undefined;
    }
    return this.#certificates;
  }

  #index(): { fingerprints: Set<string>; bySubject: Map<string, X509Certificate[]> } {
    if (!this.#fingerprints || !this.#bySubject) {
      const fingerprints = new Set<string>();
      const bySubject = new Map<string, X509Certificate[]>();
      for (const x509 of this.#all) {
        const fingerprint = x509.fingerprint256;
        if (fingerprints.has(fingerprint)) continue;
        fingerprints.add(fingerprint);
        const list = bySubject.get(x509.subject);
        if (list) list.push(x509);
        else bySubject.set(x509.subject, [x509]);
      }
      this.#fingerprints = fingerprints;
      this.#bySubject = bySubject;
    }
    return { fingerprints: this.#fingerprints, bySubject: this.#bySubject };
  }

  /** PEM text of every anchor, for the `ca` option of `tls.connect`. */
  get pems(): readonly string[] {
    this.#pems ??= this.#all.map((x509) => x509.toString());
    return this.#pems;
  }

  /** A store of the given PEM/DER bundles (a `ca` option). Throws `ERR_CERTPIN_INVALID_INPUT` for bad input. */
  static from(ca: string | Uint8Array | ReadonlyArray<string | Uint8Array>, what = 'the ca option'): TrustStore {
    const list = Array.isArray(ca) ? ca : [ca];
    return new TrustStore(list.flatMap((item: string | Uint8Array) => readCertificates(item, what)));
  }

  static #default: TrustStore | undefined;

  /**
   * Node's bundled roots plus `NODE_EXTRA_CA_CERTS`, which is what `tls.connect` trusts when given no
   * `ca`. Node 20 does not expose the extra certificates, so the file is read here.
   */
  static default(): TrustStore {
    if (!TrustStore.#default) {
      const extra = process.env.NODE_EXTRA_CA_CERTS;
      TrustStore.#default = new TrustStore(() => {
        const certificates = rootCertificates.map((pem) => new X509Certificate(pem));
        if (extra) {
          try {
            certificates.push(...readCertificates(readFileSync(extra), extra));
          } catch {
            // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS and goes on without it.
          }
        }
        return certificates;
      });
    }
    return TrustStore.#default;
  }

  get size(): number {
    return this.#index().fingerprints.size;
  }

  has(cert: CertInfo): boolean {
    return this.#index().fingerprints.has(cert.fingerprint256);
  }

  issuersOf(cert: CertInfo): readonly CertInfo[] {
    return (this.#index().bySubject.get(cert.x509.issuer) ?? []).map(certInfo);
  }
}

// ---- RFC 5280 path validation ----

/** What path validation knows of one certificate: read once, then cached with its CertInfo. */
interface CertFacts {
  readonly parsed: ParsedCertificate | undefined;
  /** Why the certificate is unusable in any position (malformed, weak key, bad extension…). */
  readonly problem: string | undefined;
  /** Why it cannot be the leaf, beyond `problem`. */
  readonly leafProblem: string | undefined;
  /** A CA certificate may be the leaf only when it is itself the trust anchor. */
  readonly leafIsCa: boolean;
  /** Why it cannot issue certificates, beyond `problem`. */
  readonly issuerProblem: string | undefined;
  /** Why it cannot be on a path unless it is itself a trust anchor. */
  readonly servedProblem: string | undefined;
  readonly selfIssued: boolean;
  /** The names constraints bind, as an intermediate and as the leaf (with Node's CN fallback); read on first use. */
  readonly names: () => ConstrainedNames;
  readonly leafNames: () => ConstrainedNames;
}

/** Subject and key: two certificates with both equal are the same CA, at most once per path (RFC 4158 5.2, as webpki does). */
const identityOf = (info: CertInfo): string => `${info.x509.subject ?? ''}\n${info.pin}`;

// Extensions certpin understands (or, for the policy ones, that OpenSSL has processed in the standard
// validation every connection also passes): a critical extension outside this list makes the
// certificate unusable (RFC 5280 4.2).
const UNDERSTOOD_CRITICAL = new Set<string>([
  OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectAltName, OID.nameConstraints,
  OID.certificatePolicies, OID.policyMappings, OID.policyConstraints, OID.inhibitAnyPolicy,
]);
const EC_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);
const EMPTY_NAME = '3000';

function keyProblem(x509: X509Certificate, namedCurve: boolean): string | undefined {
  let key: KeyObject;
  try {
    key = x509.publicKey;
  } catch {
    return 'its public key cannot be read';
  }
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      // CA/Browser Forum BR 6.1.5: at least 2048 bits, a multiple of 8.
      const bits = details.modulusLength ?? 0;
      if (bits < 2048 || bits % 8 !== 0) return `its RSA key of ${bits} bits is not allowed (2048 or more, a multiple of 8)`;
      return undefined;
    }
    case 'ec':
      if (!namedCurve) return 'its EC key has explicit curve parameters (CA/B Forum BR 7.1.3.1.2)';
      if (!details.namedCurve || !EC_CURVES.has(details.namedCurve)) return `its EC key on ${details.namedCurve ?? 'an explicit curve'} is not allowed (P-256, P-384, P-521)`;
      return undefined;
    case 'ed25519':
    case 'ed448':
      return undefined;
    default:
      return `its ${String(key.asymmetricKeyType)} key is not allowed`;
  }
}

function commonProblem(x509: X509Certificate, p: ParsedCertificate): string | undefined {
  // X.509 v2 certificates do not exist in practice; v1 (no extensions) can still be a leaf or an anchor.
  if (p.version === 2) return 'it is an X.509 version 2 certificate';
  if (p.version > 3) return `it claims X.509 version ${p.version}`;
  // RFC 5280 4.1.2.1: extensions only in v3, unique identifiers in v2 or v3.
  if (p.version === 1 && (p.extensions.size > 0 || p.uniqueIds)) return 'it is an X.509 version 1 certificate with version 3 fields';
  // RFC 5280 4.1.2.2: a positive integer of at most 20 octets.
  if (p.serial.length > 21 || (p.serial.length === 21 && p.serial[0] !== 0)) return 'its serial number is longer than 20 octets';
  if (p.serial[0]! & 0x80) return 'its serial number is negative';
  if (!p.signatureAlgorithmsMatch) return 'its two signature algorithm fields differ (RFC 5280 4.1.1.2)';
  if (p.duplicateExtension) return 'it repeats an extension (RFC 5280 4.2)';
  for (const [oid, extension] of p.extensions) {
    if (!extension.critical) continue;
    if (oid === OID.subjectKeyIdentifier || oid === OID.authorityKeyIdentifier || oid === OID.authorityInfoAccess) {
      return `its extension ${oid} is marked critical, which RFC 5280 forbids`;
    }
    if (!UNDERSTOOD_CRITICAL.has(oid)) return `it has an unknown critical extension ${oid}`;
  }
  if (p.extensions.has(OID.policyConstraints) && !p.extensions.get(OID.policyConstraints)!.critical) return 'its policyConstraints extension is not critical (RFC 5280 4.2.1.11)';
  if (p.issuer === EMPTY_NAME) return 'its issuer name is empty';
  // RFC 5280 4.1.2.6: with an empty subject, the subjectAltName must be present and critical.
  if (p.subject === EMPTY_NAME && !p.extensions.get(OID.subjectAltName)?.critical) return 'its subject is empty and its subjectAltName is missing or not critical';
  if (p.keyUsage?.[5] && !p.basicConstraints?.ca) return 'its keyUsage has keyCertSign but basicConstraints does not say cA (RFC 5280 4.2.1.9)';
  if (p.extKeyUsage && p.extKeyUsage.length === 0) return 'its extendedKeyUsage is empty';
  return keyProblem(x509, p.namedCurve);
}

function leafProblemOf(p: ParsedCertificate): string | undefined {
  if (p.nameConstraints) return 'an end-entity certificate carries name constraints (RFC 5280 4.2.1.10)';
  if (p.extKeyUsage) {
    if (!p.extKeyUsage.includes(OID.serverAuth)) return 'its extendedKeyUsage does not include serverAuth';
    // CA/B Forum BR 7.1.2.7.10: never anyExtendedKeyUsage in a server certificate (webpki and limbo agree).
    if (p.extKeyUsage.includes(OID.anyExtendedKeyUsage)) return 'its extendedKeyUsage includes anyExtendedKeyUsage';
    if (p.extensions.get(OID.extKeyUsage)!.critical) return 'its extendedKeyUsage is critical (CA/B Forum BR 7.1.2.7.6)';
  }
  return undefined;
}

function issuerProblemOf(info: CertInfo, p: ParsedCertificate): string | undefined {
  const bc = p.basicConstraints;
  if (!bc) return 'it has no basicConstraints, so it is not a CA (RFC 5280 4.2.1.9)';
  if (!bc.ca) return 'its basicConstraints do not say cA';
  if (p.keyUsage && !p.keyUsage[5]) return 'its keyUsage lacks keyCertSign';
  if (p.subject === EMPTY_NAME) return 'it is a CA with an empty subject';
  if (p.extKeyUsage && !p.extKeyUsage.includes(OID.serverAuth) && !p.extKeyUsage.includes(OID.anyExtendedKeyUsage)) {
    return 'its extendedKeyUsage excludes serverAuth';
  }
  if (p.nameConstraints) {
    const problem = constraintsProblem(p.nameConstraints);
    if (problem) return problem;
  }
  // CA/B Forum BR 7.1.2.1.3: a root's authorityKeyIdentifier, if any, has its own key identifier. (Its
  // ban on authorityCertIssuer/SerialNumber is not followed: QuoVadis Root CA 2 and 3 and Certigna, in
  // Node's bundle, carry them.)
  const aki = p.authorityKeyIdentifier;
  const selfIssued = p.subject === p.issuer;
  if (selfIssued && aki && (aki.keyIdentifier === undefined || (p.subjectKeyIdentifier !== undefined && aki.keyIdentifier !== p.subjectKeyIdentifier)) && selfSigned(info)) {
    return 'its authorityKeyIdentifier does not hold its own subjectKeyIdentifier (CA/B Forum BR 7.1.2.1.3)';
  }
  return undefined;
}

function selfSigned(info: CertInfo): boolean {
  try {
    return info.x509.verify(info.x509.publicKey);
  } catch {
    return false;
  }
}

/**
 * Rules of RFC 5280 that some roots in Node's own bundle break, so they bind only certificates that
 * are not trust anchors: a zero serial number (Go Daddy and Starfield G2 roots, SECOM RootCA2, the
 * HARICA 2015 roots) and non-critical basicConstraints in a CA (Chunghwa's ePKI Root).
 */
function servedProblemOf(p: ParsedCertificate): string | undefined {
  if (p.serial.every((b) => b === 0)) return 'its serial number is zero (RFC 5280 4.1.2.2)';
  if (p.basicConstraints?.ca && !p.extensions.get(OID.basicConstraints)!.critical) return 'its basicConstraints are not critical (RFC 5280 4.2.1.9)';
  return undefined;
}

/** CA/B Forum BR 7.1.2.1.2: a root has no extendedKeyUsage (no root in Node's bundle has one). */
function rootProblemOf(p: ParsedCertificate | undefined, facts: CertFacts): string | undefined {
  if (p && facts.selfIssued && p.extKeyUsage) return 'it is a root with an extendedKeyUsage (CA/B Forum BR 7.1.2.1.2)';
  return undefined;
}

function namesOf(p: ParsedCertificate, asLeaf: boolean): ConstrainedNames {
  const dns: string[] = [];
  const ips: Uint8Array[] = [];
  const dirs: string[][] = [];
  const otherTags = new Set<number>();
  if (p.subject !== EMPTY_NAME) dirs.push([...p.subjectRdns]);
  if (p.subjectEmails > 0) otherTags.add(1);
  for (const name of p.subjectAltNames ?? []) {
    if (name.kind === 'dns') dns.push(name.value.toLowerCase());
    else if (name.kind === 'ip') ips.push(name.bytes);
    else if (name.kind === 'dn') dirs.push([...name.rdns]);
    else otherTags.add(name.tag);
  }
  // Node's checkServerIdentity falls back to the CNs when there is no dNSName: constrain them too, or
  // a constrained CA could name any host in a CN.
  if (asLeaf && dns.length === 0) dns.push(...p.subjectCommonNames.filter(looksLikeHostname).map((cn) => cn.toLowerCase()));
  return { dns, ips, dirs, otherTags };
}

const factsCache = new WeakMap<CertInfo, CertFacts>();

function once<T>(read: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= read());
}

function factsOf(info: CertInfo): CertFacts {
  let facts = factsCache.get(info);
  if (facts) return facts;
  let parsed: ParsedCertificate | undefined;
  try {
    parsed = parseCertificate(info.x509.raw);
  } catch (error) {
    const none = (): ConstrainedNames => ({ dns: [], ips: [], dirs: [], otherTags: new Set() });
    facts = {
      parsed: undefined, problem: `it cannot be read (${error instanceof DerError ? error.message : 'malformed'})`, leafProblem: undefined, leafIsCa: false,
      issuerProblem: undefined, servedProblem: undefined, selfIssued: false, names: none, leafNames: none,
    };
    factsCache.set(info, facts);
    return facts;
  }
  facts = {
    parsed,
    problem: commonProblem(info.x509, parsed),
    leafProblem: leafProblemOf(parsed),
    leafIsCa: parsed.basicConstraints?.ca === true,
    issuerProblem: issuerProblemOf(info, parsed),
    servedProblem: servedProblemOf(parsed),
    selfIssued: parsed.subject === parsed.issuer,
    names: once(() => namesOf(parsed, false)),
    leafNames: once(() => namesOf(parsed, true)),
  };
  factsCache.set(info, facts);
  return facts;
}

/**
 * The budget of one search, as rustls-webpki has one: enough for any real chain (a few links, a few
 * cross-signed alternatives), small enough that a server sending certificates that all issue each
 * other cannot make a check cost more than milliseconds.
 */
export const PATH_BUDGET = Object.freeze({
  /** Signature verifications (a cached result still counts, so a result never depends on the cache). */
  signatures: 100,
  /** Candidate issuers considered, over the whole search. */
  steps: 500,
  /** Name-constraint comparisons (name × subtree). */
  nameComparisons: 100_000,
  /** Valid paths collected before the search stops: enough for any cross-signing there is. */
  paths: 16,
});

/** Intermediates (not counting self-issued ones) when the caller gives no depth: more than any public chain. */
export const DEFAULT_MAX_DEPTH = 8;
/** Every intermediate, self-issued ones included. */
const MAX_PATH_INTERMEDIATES = 16;

/** Options of {@link proveChain}. */
export interface ProveOptions {
  /** The time of the check, ms since the epoch. @default Date.now() */
  now?: number;
  /** The most intermediates a path may have, self-issued ones not counted. @default 8 */
  maxDepth?: number;
}

/** The result of proving a served chain. */
export interface ProvenChain {
  /** The first valid path (leaf first, ending at an anchor) when `anchored`; else the longest proven partial path. */
  readonly path: readonly CertInfo[];
  /** Whether at least one valid path reaches an anchor of the store. */
  readonly anchored: boolean;
  /** Every valid path found (cross-signing gives several); empty when not anchored. A pin on any of them counts. */
  readonly paths: readonly (readonly CertInfo[])[];
  /** Served certificates on no valid path: they never count for pinning (docs/guarantees.md C1, C2). */
  readonly unproven: readonly CertInfo[];
  /** Why no valid path was found, for messages; or why the search stopped early. */
  readonly problem: string | undefined;
  /** The budget ran out: the search was cut short (fail closed: paths not found do not count). */
  readonly exhausted: boolean;
  /** The work the search did: signature checks, steps and name comparisons, for tests and diagnostics. */
  readonly work: { readonly signatures: number; readonly steps: number; readonly nameComparisons: number };
}

interface Link {
  issued: boolean;
  signature: boolean | undefined;
}

const links = new Map<string, Link>();

function linkOf(child: CertInfo, parent: CertInfo): Link {
  const key = `${child.fingerprint256}>${parent.fingerprint256}`;
  let link = links.get(key);
  if (!link) {
    let issued = false;
    try {
      issued = child.x509.checkIssued(parent.x509);
    } catch {
      issued = false;
    }
    link = { issued, signature: undefined };
    remember(links, key, link, MAX_CACHED);
  }
  return link;
}

function signatureVerifies(child: CertInfo, parent: CertInfo, link: Link): boolean {
  if (link.signature === undefined) {
    try {
      link.signature = child.x509.verify(parent.x509.publicKey);
    } catch {
      link.signature = false;
    }
  }
  return link.signature;
}

const describe = (info: CertInfo): string => info.subject;

class PathSearch {
  readonly paths: CertInfo[][] = [];
  best: CertInfo[];
  problem: string | undefined;
  exhausted = false;
  signatures = 0;
  steps = 0;
  readonly comparisons: ComparisonBudget = { left: PATH_BUDGET.nameComparisons };
  /** The instants between which every validity verdict of this search stays the same: the cache window. */
  from = -Infinity;
  until = Infinity;
  readonly #now: number;

  constructor(
    readonly leaf: CertInfo,
    readonly served: readonly CertInfo[],
    readonly store: TrustStore,
    now: number,
    readonly maxDepth: number,
  ) {
    this.best = [leaf];
    // RFC 5280 validity has whole seconds: 00:00:00.005 is still within a notAfter of 00:00:00.
    this.#now = Math.floor(now / 1000) * 1000;
  }

  /** RFC 5280 4.1.2.5: notBefore and notAfter are both inclusive. Records what the verdict depends on. */
  validityProblem(info: CertInfo, p: ParsedCertificate): string | undefined {
    const now = this.#now;
    if (now < p.notBefore) {
      this.until = Math.min(this.until, p.notBefore - 1);
      return `it is not valid before ${new Date(p.notBefore).toISOString()}`;
    }
    if (now > p.notAfter) {
      this.from = Math.max(this.from, p.notAfter + 1000);
      return `it expired on ${new Date(p.notAfter).toISOString()}`;
    }
    this.from = Math.max(this.from, p.notBefore);
    this.until = Math.min(this.until, p.notAfter + 999);
    return undefined;
  }

  note(problem: string): void {
    this.problem ??= problem;
  }

  run(): void {
    const facts = factsOf(this.leaf);
    const p = facts.parsed;
    const isAnchor = this.store.has(this.leaf);
    const problem = facts.problem ?? facts.leafProblem ?? (isAnchor ? undefined : facts.servedProblem ?? (facts.leafIsCa ? 'it is a CA certificate in the leaf position (CA/B Forum BR 7.1.2.7.8)' : undefined));
    if (problem || !p) {
      this.problem = `the leaf ${describe(this.leaf)} cannot be used: ${problem ?? 'it cannot be read'}`;
      return;
    }
    const expired = this.validityProblem(this.leaf, p);
    if (expired) {
      this.problem = `the leaf ${describe(this.leaf)} cannot be used: ${expired}`;
      return;
    }
    // A certificate trusted as itself (a self-signed server certificate in `ca`) is its own anchor.
    if (isAnchor) {
      this.paths.push([this.leaf]);
      return;
    }
    this.extend([this.leaf], [facts], [identityOf(this.leaf)], 0);
  }

  /** Depth-first over every candidate issuer of the last certificate, store first, within the budget. */
  extend(path: CertInfo[], pathFacts: CertFacts[], identities: string[], intermediates: number): void {
    const child = path[path.length - 1]!;
    if (path.length > this.best.length) this.best = path;
    const candidates = [...this.store.issuersOf(child), ...this.served.filter((c) => c.x509.subject === child.x509.issuer)];
    const tried = new Set<string>();
    for (const parent of candidates) {
      if (this.exhausted || this.paths.length >= PATH_BUDGET.paths) return;
      if (tried.has(parent.fingerprint256)) continue;
      tried.add(parent.fingerprint256);
      if (++this.steps > PATH_BUDGET.steps) {
        this.exhausted = true;
        return;
      }
      const identity = identityOf(parent);
      if (identities.includes(identity) || path.includes(parent)) continue;
      const link = linkOf(child, parent);
      if (!link.issued) continue;
      const facts = factsOf(parent);
      const p = facts.parsed;
      const why = (reason: string): void => this.note(`${describe(parent)} cannot issue ${describe(child)}: ${reason}`);
      const isAnchor = this.store.has(parent);
      const problem = facts.problem ?? facts.issuerProblem ?? (isAnchor ? rootProblemOf(p, facts) : facts.servedProblem);
      if (problem || !p) {
        why(problem ?? 'it cannot be read');
        continue;
      }
      const expired = this.validityProblem(parent, p);
      if (expired) {
        why(expired);
        continue;
      }
      // RFC 5280 4.2.1.9: pathLenConstraint counts the non-self-issued intermediates below, not the leaf.
      if (p.basicConstraints?.pathLen !== undefined && intermediates > p.basicConstraints.pathLen) {
        why(`its pathLenConstraint of ${p.basicConstraints.pathLen} allows fewer intermediates than the ${intermediates} below it`);
        continue;
      }
      const depth = intermediates + (isAnchor || facts.selfIssued ? 0 : 1);
      if (!isAnchor && (depth > this.maxDepth || path.length > MAX_PATH_INTERMEDIATES)) {
        why(`the path would be longer than ${this.maxDepth} intermediates`);
        continue;
      }
      if (++this.signatures > PATH_BUDGET.signatures) {
        this.exhausted = true;
        return;
      }
      if (!signatureVerifies(child, parent, link)) {
        why('the signature does not verify with its key');
        continue;
      }
      if (p.nameConstraints) {
        const violation = this.constraintsViolation(p.nameConstraints, path, pathFacts);
        if (violation === 'budget') {
          this.exhausted = true;
          return;
        }
        if (violation) {
          why(`the name constraints are broken: ${violation}`);
          continue;
        }
      }
      const next = [...path, parent];
      if (isAnchor) {
        this.paths.push(next);
        continue;
      }
      this.extend(next, [...pathFacts, facts], [...identities, identity], depth);
    }
  }

  /** RFC 5280 6.1.3 (b)(c): a CA's constraints bind every certificate below it but self-issued intermediates. */
  constraintsViolation(constraints: NameConstraints, path: readonly CertInfo[], pathFacts: readonly CertFacts[]): string | undefined {
    for (let i = 0; i < path.length; i++) {
      const facts = pathFacts[i]!;
      if (i > 0 && facts.selfIssued) continue;
      const p = facts.parsed;
      const count = p ? (p.subjectAltNames?.length ?? 0) + p.subjectAttributes : 0;
      const violation = nameConstraintsViolation(constraints, count, i === 0 ? facts.leafNames : facts.names, this.comparisons);
      if (violation === 'budget') return violation;
      if (violation) return `${violation} (in ${describe(path[i]!)})`;
    }
    return undefined;
  }
}

interface CachedProof {
  readonly result: ProvenChain;
  readonly from: number;
  readonly until: number;
}

const proofs = new Map<string, CachedProof>();

/**
 * Proves the served chain (`served[0]` the leaf) against the anchors of `store` under RFC 5280 at
 * `now`: every link proven by name and signature (the defence against the appended-certificate bypass,
 * CVE-2016-2402: a served certificate off a valid path never counts), every certificate within its
 * validity period, every issuer a CA with keyCertSign within its pathLenConstraint and name
 * constraints, the leaf no CA and fit for serverAuth, and the depth bounded. Every valid path within
 * {@link PATH_BUDGET} is collected, so a pin on any of them counts (cross-signed roots). Never throws;
 * when the budget runs out the result says so and counts only the paths already proven.
 *
 * Results are cached per trust store and served chain for as long as no certificate's validity
 * changes, so checking a chain seen before costs a map lookup.
 *
 * @example
 * ```js
 * const proof = proveChain(chain.map(certInfo), TrustStore.default(), { now: Date.parse('2026-06-01') })
 * if (proof.anchored) for (const path of proof.paths) console.log(path.map((c) => c.pin))
 * else console.log(proof.problem)
 * ```
 */
export function proveChain(served: readonly CertInfo[], store: TrustStore, options: ProveOptions = {}): ProvenChain {
  const now = options.now ?? Date.now();
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const leaf = served[0];
  const none = { signatures: 0, steps: 0, nameComparisons: 0 };
  if (!leaf) return { path: [], anchored: false, paths: [], unproven: [], problem: 'no certificate was served', exhausted: false, work: none };
  // NaN would make every validity comparison false, that is every certificate valid: fail closed.
  if (!Number.isFinite(now)) return { path: [leaf], anchored: false, paths: [], unproven: served.slice(1), problem: `the time of the check is not a time (${String(now)})`, exhausted: false, work: none };
  let key = `${store.id}/${maxDepth}`;
  for (const cert of served) key += `|${cert.fingerprint256}`;
  const cached = proofs.get(key);
  if (cached && cached.from <= now && now <= cached.until) return cached.result;

  const unique: CertInfo[] = [];
  const seen = new Set<string>();
  for (const cert of served) {
    if (seen.has(cert.fingerprint256)) continue;
    seen.add(cert.fingerprint256);
    unique.push(cert);
  }
  const search = new PathSearch(leaf, unique, store, now, maxDepth);
  try {
    search.run();
  } catch (error) {
    // Nothing above should throw; if it does, fail closed rather than take a process down.
    search.problem = `the chain could not be checked (${error instanceof Error ? error.message : String(error)})`;
    search.paths.length = 0;
  }
  const anchored = search.paths.length > 0;
  const path = anchored ? search.paths[0]! : search.best;
  const onPath = new Set<string>();
  for (const p of anchored ? search.paths : [path]) for (const c of p) onPath.add(c.fingerprint256);
  let problem = search.problem;
  if (search.exhausted) {
    problem = `the search for a valid path ran out of its budget (${PATH_BUDGET.signatures} signature checks, ${PATH_BUDGET.steps} steps, ${PATH_BUDGET.nameComparisons} name comparisons): the server sent too many candidate certificates`;
  } else if (!anchored && problem === undefined) {
    const last = path[path.length - 1]!;
    problem = `no issuer of ${describe(last)} was found among the served certificates or the trust anchors`;
  }
  const result: ProvenChain = {
    path,
    anchored,
    paths: search.paths,
    unproven: unique.filter((c) => !onPath.has(c.fingerprint256)),
    problem,
    exhausted: search.exhausted,
    work: { signatures: search.signatures, steps: search.steps, nameComparisons: PATH_BUDGET.nameComparisons - search.comparisons.left },
  };
  remember(proofs, key, { result, from: search.from, until: search.until }, 1_000);
  return result;
}

/** @internal Why a certificate could not be an issuer on a path (validity aside), or undefined: for tests and diagnostics. */
export function issuerProblem(info: CertInfo): string | undefined {
  const facts = factsOf(info);
  return facts.problem ?? facts.issuerProblem;
}
