import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { CertpinError } from '../errors.js';
import { NORMAL_HOST_NAME } from './canonical.js';

/**
 * A host pattern (docs/policy.md): `api.example.com` (exact), `*.example.com` (exactly one more label) or
 * `**.example.com` (zero or more more labels, so `example.com` too).
 */
export interface HostPattern {
  readonly text: string;
  readonly kind: 'exact' | 'one-label' | 'any-labels';
  readonly base: string;
}

// isIP's first call compiles a large IPv6 expression (~10 ms), which the register hook would pay at
// start for every pin file: only strings that could be an address go through it.
const MAYBE_IP = /^[\d.]+$|:/;
const ipFamily = (text: string): number => (MAYBE_IP.test(text) ? isIP(text) : 0);

/** `::ffff:a.b.c.d` in canonical form (`::ffff:hhhh:hhhh`): the IPv4 address it maps (RFC 4291 2.5.5.2). */
const IPV4_MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

function canonicalIpv6(address: string): string {
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return '';
  }
  const mapped = IPV4_MAPPED.exec(canonical);
  if (!mapped) return canonical;
  const high = Number.parseInt(mapped[1]!, 16);
  const low = Number.parseInt(mapped[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * Lowercases, converts IDN to punycode, drops one trailing dot, strips IPv6 brackets and zone IDs and
 * writes IPv6 in canonical form (an IPv4-mapped address as its IPv4 address: it is the same host).
 * Returns '' for something that cannot be a hostname (`api.example.com..`, an empty label): the
 * policy refuses such a name rather than treat it as unpinned (docs/guarantees.md P1). Never throws.
 * Needed because `https.request` passes `host` through as written while fetch and `tls` each
 * normalise differently (docs/node-tls.md N8): all of them must meet the same policy.
 *
 * @example
 * ```js
 * normalizeHostname('API.Example.COM.')  // 'api.example.com'
 * normalizeHostname('bücher.example')    // 'xn--bcher-kva.example'
 * normalizeHostname('[::1]')             // '::1'
 * normalizeHostname('fe80::1%eth0')      // 'fe80::1'
 * normalizeHostname('::ffff:127.0.0.1')  // '127.0.0.1'
 * normalizeHostname('api.example.com..') // '' (refused by the policy)
 * ```
 */
export function normalizeHostname(host: string): string {
  // The common case, a name already in normal form, skips isIP's regular expressions and UTS #46
  // processing, which would return it unchanged (docs/performance.md: lookups under 2 µs).
  if (NORMAL_HOST_NAME.test(host) && !host.includes('xn--')) return host;
  if (typeof host !== 'string') return '';
  let name = host.trim();
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  // A zone ID (RFC 4007 11: `fe80::1%eth0`, or `%25eth0` as RFC 6874 writes it in URLs) names the
  // local interface to use, not the host: it is not part of the name the pins are for.
  const zone = name.indexOf('%');
  if (zone > 0 && name.includes(':')) name = name.slice(0, zone);
  const family = ipFamily(name);
  if (family === 4) return name;
  if (family === 6) return canonicalIpv6(name);
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name === '' || name.endsWith('.') || name.startsWith('.') || name.includes('..')) return '';
  return domainToASCII(name.toLowerCase());
}

function invalidPattern(text: string, why: string): CertpinError {
  return new CertpinError('ERR_CERTPIN_INVALID_CONFIG', `invalid host pattern ${JSON.stringify(text)}: ${why}`);
}

/** Parses and normalises a host pattern, refusing any wildcard other than a leading `*.` or `**.`. */
export function parseHostPattern(text: string): HostPattern {
  if (typeof text !== 'string' || text.trim() === '') throw invalidPattern(String(text), 'empty');
  const trimmed = text.trim();
  let kind: HostPattern['kind'] = 'exact';
  let rest = trimmed;
  if (trimmed.startsWith('**.')) {
    kind = 'any-labels';
    rest = trimmed.slice(3);
  } else if (trimmed.startsWith('*.')) {
    kind = 'one-label';
    rest = trimmed.slice(2);
  }
  // A name already in normal form (what pin files hold) is its own base: no '*', not an address (its
  // last label starts with a letter), and normalizeHostname would return it unchanged. With 1,000 hosts
  // the regular expressions and replace below showed in certpin/register's start-up (docs/performance.md).
  if (NORMAL_HOST_NAME.test(rest) && !rest.includes('xn--')) {
    return { text: kind === 'exact' ? rest : `${kind === 'one-label' ? '*' : '**'}.${rest}`, kind, base: rest };
  }
  if (rest.includes('*')) throw invalidPattern(text, 'a wildcard is allowed only as the whole first label, as *.example.com or **.example.com');
  const family = ipFamily(rest.replace(/^\[|\]$/g, ''));
  if (family !== 0 && kind !== 'exact') throw invalidPattern(text, 'an IP address cannot take a wildcard');
  const base = normalizeHostname(rest);
  if (base === '' || (family === 0 && !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(base))) {
    throw invalidPattern(text, 'not a valid hostname');
  }
  const normalisedText = kind === 'exact' ? base : `${kind === 'one-label' ? '*' : '**'}.${base}`;
  return { text: normalisedText, kind, base };
}

/**
 * Finds the entries whose pattern matches a hostname. A lookup costs one map access per label of the
 * hostname, whatever the number of patterns (docs/performance.md).
 */
export class HostIndex<T> {
  readonly #exact = new Map<string, T[]>();
  readonly #oneLabel = new Map<string, T[]>();
  readonly #anyLabels = new Map<string, T[]>();

  add(pattern: HostPattern, value: T): void {
    const map = pattern.kind === 'exact' ? this.#exact : pattern.kind === 'one-label' ? this.#oneLabel : this.#anyLabels;
    const list = map.get(pattern.base);
    if (list) list.push(value);
    else map.set(pattern.base, [value]);
  }

  /** All entries whose pattern matches the (already normalised) hostname, most specific first. */
  lookup(hostname: string): T[] {
    if (hostname === '') return [];
    const found: T[] = [];
    const exact = this.#exact.get(hostname);
    if (exact) found.push(...exact);
    if (ipFamily(hostname) !== 0) return found;
    const firstDot = hostname.indexOf('.');
    if (firstDot > 0) {
      const one = this.#oneLabel.get(hostname.slice(firstDot + 1));
      if (one) found.push(...one);
    }
    if (this.#anyLabels.size > 0) {
      for (let suffix = hostname; ; ) {
        const any = this.#anyLabels.get(suffix);
        if (any) found.push(...any);
        const dot = suffix.indexOf('.');
        if (dot < 0) break;
        suffix = suffix.slice(dot + 1);
      }
    }
    return found;
  }
}
