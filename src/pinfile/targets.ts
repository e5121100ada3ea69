import { isIP } from 'node:net';
import { CertpinError } from '../errors.js';
import type { HostConfig, PolicyConfig } from '../policy/config.js';
import { parseHostPattern } from '../policy/hosts.js';
import { inspect, type ChainEntry, type InspectOptions, type InspectResult } from '../probe/inspect.js';
import { parseTarget } from '../probe/target.js';

/**
 * How `init` and `rotate` look at a server: {@link inspect} unless a test or caller supplies another.
 *
 * @example
 * ```js
 * // a probe that goes through a bastion's resolver, for initPins, rotatePins and friends
 * const probe = (target, options) => inspect(target, { ...options, resolve: [`${target}:10.0.0.5`] })
 * await rotatePins('pins.json', { probe })
 * ```
 */
export type ProbeFunction = (target: string, options: InspectOptions) => Promise<InspectResult>;

export const defaultProbe: ProbeFunction = (target, options) => inspect(target, options);

export interface HostPort {
  host: string;
  port: number;
}

/** Reads a server target as inspect() does (`host`, `host:port`, `[v6]:port`, `https://` URL); files are refused. */
export function parseHostPort(text: string): HostPort {
  const target = parseTarget(text);
  if (target.kind === 'file') {
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `${JSON.stringify(text)} is a file; a pin file entry needs a server: host, host:port, [v6]:port or https:// URL`);
  }
  return { host: target.host, port: target.port };
}

/** The `host:port` target inspect() reads, IPv6 in brackets. */
export function formatTarget(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/**
 * The certificate of a verified chain (leaf first) that `pinLevel` records: the leaf, the issuer of the
 * leaf, or the anchor. A chain too short for the level (a self-signed leaf) yields its nearest member.
 */
export function pickAtLevel(chain: readonly ChainEntry[], level: 'leaf' | 'intermediate' | 'root'): ChainEntry | undefined {
  if (level === 'leaf') return chain[0];
  if (level === 'intermediate') return chain[1] ?? chain[0];
  return chain[chain.length - 1];
}

/** What a probe found, sorted into the three cases the jobs treat differently. */
export type ProbeOutcome =
  | { kind: 'trusted'; result: InspectResult }
  | { kind: 'untrusted'; result: InspectResult; message: string }
  | { kind: 'unreachable'; message: string };

export async function probeHost(probe: ProbeFunction, target: string, options: InspectOptions): Promise<ProbeOutcome> {
  let result: InspectResult;
  try {
    result = await probe(target, options);
  } catch (error) {
    return { kind: 'unreachable', message: `${target}: ${(error as Error).message}` };
  }
  if (result.trusted && result.chain.length > 0) return { kind: 'trusted', result };
  const why = result.error ?? 'the chain did not pass standard validation';
  // No certificate at all means no handshake took place: a connection problem, not an identity one.
  if (result.chain.length === 0) return { kind: 'unreachable', message: `${target}: ${why}` };
  return { kind: 'untrusted', result, message: `${target}: the certificate chain is not trusted (${why})` };
}

/**
 * Where a pin-file entry is probed: `target` is `host:port` for inspect(), or null with the reason.
 *
 * @example
 * ```js
 * for (const t of probeTargets(document)) console.log(t.entry, t.target ?? `not probed: ${t.reason}`)
 * ```
 */
export interface ProbeTarget {
  /** The host entry's key, as written in the pin file. */
  readonly entry: string;
  readonly target: string | null;
  /** Why the entry cannot be probed (a `*.` pattern without `probeHost`); null when it can. */
  readonly reason: string | null;
}

/**
 * The concrete hosts to connect to for the entries of a pin file: the one answer `verify --config`,
 * `expiry`, `rotate` and `metrics` all use. An exact pattern is its own host and
 * `**.x` includes `x`; `*.x` names no host, so it needs the entry's `probeHost` (which, when present,
 * wins for every pattern). The port is the entry's `port`, else 443.
 *
 * @example
 * ```js
 * probeTargets({ hosts: { '**.example.com': { pins: [], port: 8443 }, '*.example.org': { pins: [] } } })
 * // [{ entry: '**.example.com', target: 'example.com:8443', reason: null },
 * //  { entry: '*.example.org', target: null, reason: '*.example.org names no single host; set "probeHost" …' }]
 * ```
 */
export function probeTargets(config: Pick<PolicyConfig, 'hosts'>): ProbeTarget[] {
  return Object.entries(config.hosts).map(([entry, value]) => {
    const host: Partial<HostConfig> & { probeHost?: unknown } = typeof value === 'object' && value !== null ? value : {};
    const port = typeof host.port === 'number' ? host.port : 443;
    if (typeof host.probeHost === 'string' && host.probeHost !== '') return { entry, target: formatTarget(host.probeHost, port), reason: null };
    let pattern;
    try {
      pattern = parseHostPattern(entry);
    } catch (error) {
      return { entry, target: null, reason: (error as Error).message };
    }
    if (pattern.kind === 'one-label') {
      return { entry, target: null, reason: `${entry} names no single host; set "probeHost" on the entry (e.g. "www.${pattern.base}") to probe it` };
    }
    return { entry, target: formatTarget(pattern.base, port), reason: null };
  });
}
