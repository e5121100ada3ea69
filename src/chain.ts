import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { pinOfSpki, spkiOf } from './pin.js';
import { formatName, readCertificates } from './pem.js';

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

function buildInfo(x509: X509Certificate): CertInfo {
  return {
    x509,
    fingerprint256: x509.fingerprint256,
    pin: pinOfSpki(spkiOf(x509)),
    subject: formatName(x509.subject),
    issuer: formatName(x509.issuer),
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
 * name only (NODE-TLS-NOTES 3), so they are candidates for the prover, never a proven path.
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

/** The result of proving a served chain. */
export interface ProvenChain {
  /** Leaf first; every link proven by name and signature; ends at an anchor when `anchored`. */
  readonly path: readonly CertInfo[];
  readonly anchored: boolean;
  /** Served certificates that are not on the proven path: they never count for pinning (SPEC 3). */
  readonly unproven: readonly CertInfo[];
}

const MAX_DEPTH = 10;
const provenLinks = new Map<string, boolean>();
const provenChains = new Map<string, ProvenChain>();

function linkProven(child: CertInfo, parent: CertInfo, parentIsAnchor: boolean): boolean {
  const key = `${child.fingerprint256}>${parent.fingerprint256}`;
  let ok = provenLinks.get(key);
  if (ok === undefined) {
    // A v1 self-signed root in the trust store has no basicConstraints; OpenSSL accepts it as an
    // anchor, so do we. Anything else must say it is a CA.
    const mayIssue = parent.isCA || (parentIsAnchor && parent.selfIssued);
    ok = mayIssue && child.x509.checkIssued(parent.x509) && child.x509.verify(parent.x509.publicKey);
    remember(provenLinks, key, ok, MAX_CACHED);
  }
  return ok;
}

/**
 * Proves the path from `served[0]` (the leaf) to an anchor of `store`, link by link: the parent's
 * subject is the child's issuer, the parent may issue certificates, and the child's signature
 * verifies with the parent's key. Issuers are sought in the store first, then among the served
 * certificates; when a link or a branch fails, the next candidate is tried. This is the defence against
 * the appended-certificate bypass (CVE-2016-2402): a served certificate off the path never counts.
 * Results are cached, so proving a chain seen before costs a map lookup.
 */
export function proveChain(served: readonly CertInfo[], store: TrustStore): ProvenChain {
  const leaf = served[0];
  if (!leaf) return { path: [], anchored: false, unproven: [] };
  let key = String(store.id);
  for (const cert of served) key += `|${cert.fingerprint256}`;
  const cached = provenChains.get(key);
  if (cached) return cached;

  let best: CertInfo[] = [leaf];
  const extend = (path: CertInfo[]): CertInfo[] | undefined => {
    const current = path[path.length - 1]!;
    if (store.has(current)) return path;
    if (path.length > best.length) best = path;
    if (path.length >= MAX_DEPTH) return undefined;
    const tried = new Set<string>();
    const fromStore = store.issuersOf(current);
    const fromServed = served.filter((c) => c.x509.subject === current.x509.issuer);
    for (const parent of [...fromStore, ...fromServed]) {
      if (tried.has(parent.fingerprint256) || path.some((c) => c.fingerprint256 === parent.fingerprint256)) continue;
      tried.add(parent.fingerprint256);
      if (!linkProven(current, parent, store.has(parent))) continue;
      const found = extend([...path, parent]);
      if (found) return found;
    }
    return undefined;
  };
  const anchoredPath = extend([leaf]);
  const path = anchoredPath ?? best;
  const onPath = new Set(path.map((c) => c.fingerprint256));
  const result: ProvenChain = {
    path,
    anchored: anchoredPath !== undefined,
    unproven: served.filter((c) => !onPath.has(c.fingerprint256)),
  };
  remember(provenChains, key, result, 1_000);
  return result;
}
