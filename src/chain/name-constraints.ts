// RFC 5280 4.2.1.10 name constraints, for the name forms that matter to a TLS server: dNSName,
// iPAddress and directoryName. Any other form (otherName, rfc822Name, URI, …) cannot be evaluated
// here, so a certificate that carries such a name under a constraint of the same form is refused
// (RFC 5280 6.1.3 (b): an implementation that does not process a form must reject).
import type { GeneralName, NameConstraints } from './certificate.js';

/** The names of one certificate that constraints apply to. */
export interface ConstrainedNames {
  /** dNSName SANs, lowercased (for a leaf without one: its subject CNs, which Node's hostname check falls back to). */
  readonly dns: readonly string[];
  readonly ips: readonly Uint8Array[];
  /** The subject (when not empty) and directoryName SANs, each as its RDNs in hex DER. */
  readonly dirs: readonly (readonly string[])[];
  /** Context tags of the other name forms the certificate carries (1, rfc822Name, for a subject emailAddress too). */
  readonly otherTags: ReadonlySet<number>;
}

/** Comparisons left; a check that would exceed it stops and reports `budget`. */
export interface ComparisonBudget {
  left: number;
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

function isHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => LABEL.test(label));
}

/** A DNS constraint is a hostname or empty (everything); RFC 5280 allows neither wildcards nor a leading dot. */
function validDnsConstraint(value: string): boolean {
  return value === '' || isHostname(value.toLowerCase());
}

function within(name: string, subtree: string): boolean {
  if (subtree === '') return true;
  return name === subtree || name.endsWith(`.${subtree}`);
}

/**
 * A wildcard SAN `*.base` stands for every one-label name under `base`. It is permitted only when all
 * of them are (base within the subtree), and excluded as soon as one of them might be (the subtree is
 * within base, or base within the subtree): the defensive reading of CVE-2025-61727.
 */
function dnsMatches(name: string, subtree: string, forExclusion: boolean): boolean {
  const constraint = subtree.toLowerCase();
  if (!name.startsWith('*.')) return within(name, constraint);
  const base = name.slice(2);
  if (within(base, constraint)) return true;
  return forExclusion && constraint !== '' && constraint.endsWith(`.${base}`);
}

function validIpConstraint(bytes: Uint8Array): boolean {
  if (bytes.length !== 8 && bytes.length !== 32) return false;
  const mask = bytes.subarray(bytes.length / 2);
  let ended = false;
  for (const byte of mask) {
    for (let b = 7; b >= 0; b--) {
      const one = ((byte >> b) & 1) === 1;
      if (one && ended) return false;
      if (!one) ended = true;
    }
  }
  return true;
}

function ipMatches(ip: Uint8Array, subtree: Uint8Array): boolean {
  if (subtree.length !== ip.length * 2) return false;
  for (let i = 0; i < ip.length; i++) {
    const mask = subtree[ip.length + i]!;
    if ((ip[i]! & mask) !== (subtree[i]! & mask)) return false;
  }
  return true;
}

function dnMatches(rdns: readonly string[], subtree: readonly string[]): boolean {
  if (subtree.length > rdns.length) return false;
  return subtree.every((rdn, i) => rdns[i] === rdn);
}

/** Whether the constraints themselves are well formed; undefined when they are, else why not. */
export function constraintsProblem(constraints: NameConstraints): string | undefined {
  if (constraints.malformed) return 'its name constraints are malformed (an empty list, or a minimum/maximum)';
  for (const subtree of [...constraints.permitted, ...constraints.excluded]) {
    if (subtree.kind === 'dns' && !validDnsConstraint(subtree.value)) return `its dNSName constraint "${subtree.value}" is not a valid name (RFC 5280 4.2.1.10)`;
    if (subtree.kind === 'ip' && !validIpConstraint(subtree.bytes)) return 'its iPAddress constraint is not an address and a CIDR mask';
  }
  return undefined;
}

function check<T>(
  names: readonly T[],
  kind: GeneralName['kind'],
  constraints: NameConstraints,
  matches: (name: T, subtree: GeneralName, forExclusion: boolean) => boolean,
  describe: (name: T) => string,
): string | undefined {
  const permitted = constraints.permitted.filter((s) => s.kind === kind);
  const excluded = constraints.excluded.filter((s) => s.kind === kind);
  if (names.length === 0 || (permitted.length === 0 && excluded.length === 0)) return undefined;
  for (const name of names) {
    if (permitted.length > 0 && !permitted.some((s) => matches(name, s, false))) return `${describe(name)} is outside its permitted subtrees`;
    if (excluded.some((s) => matches(name, s, true))) return `${describe(name)} is in its excluded subtrees`;
  }
  return undefined;
}

/**
 * Checks the names of one certificate against one CA's constraints. `count` bounds the number of names
 * (all forms) and is charged against every subtree, whatever their forms, as webpki counts: a CA with
 * thousands of subtrees over a leaf with thousands of names (x509-limbo nc-dos) runs out before a
 * single name is read. Returns undefined when they hold, `'budget'` when checking would exceed the
 * budget, else the reason they do not.
 */
export function nameConstraintsViolation(constraints: NameConstraints, count: number, readNames: () => ConstrainedNames, budget: ComparisonBudget): string | undefined {
  const cost = Math.max(count, 1) * (constraints.permitted.length + constraints.excluded.length);
  if (cost > budget.left) return 'budget';
  budget.left -= cost;
  const names = readNames();
  const hasDns = [...constraints.permitted, ...constraints.excluded].some((s) => s.kind === 'dns');
  if (hasDns) {
    const bad = names.dns.find((n) => !(n.startsWith('*.') ? isHostname(n.slice(2)) : isHostname(n)));
    if (bad !== undefined) return `the name "${bad}" is not a valid DNS name, so its name constraints cannot be checked`;
  }
  const hasIp = [...constraints.permitted, ...constraints.excluded].some((s) => s.kind === 'ip');
  if (hasIp && names.ips.some((ip) => ip.length !== 4 && ip.length !== 16)) return 'an iPAddress name is not an IPv4 or IPv6 address';
  for (const subtree of [...constraints.permitted, ...constraints.excluded]) {
    if (subtree.kind === 'other' && names.otherTags.has(subtree.tag)) return `a name of a form certpin cannot check (tag [${subtree.tag}]) is under its name constraints`;
  }
  return (
    check(names.dns, 'dns', constraints, (n, s, ex) => s.kind === 'dns' && dnsMatches(n, s.value, ex), (n) => `DNS name ${n}`) ??
    check(names.ips, 'ip', constraints, (n, s) => s.kind === 'ip' && ipMatches(n, s.bytes), () => 'an IP address') ??
    check(names.dirs, 'dn', constraints, (n, s) => s.kind === 'dn' && dnMatches(n, s.rdns), () => 'a directory name')
  );
}

/** Whether a CN could be a hostname that Node's check falls back to: only then do DNS constraints apply to it. */
export function looksLikeHostname(cn: string): boolean {
  const name = cn.toLowerCase();
  return name.startsWith('*.') ? isHostname(name.slice(2)) : /^[a-z0-9._-]+$/.test(name);
}
