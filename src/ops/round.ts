import type { HostConfig, PolicyConfig } from '../config.js';
import { parseHostPattern } from '../hosts.js';
import { inspect, type InspectOptions, type InspectResult } from '../probe.js';
import { mapConcurrent } from '../lib/concurrency.js';
import { formatTarget } from '../pinfile/targets.js';

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
 * The concrete hosts to connect to for the entries of a pin file. An exact pattern is its own host and
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

/**
 * One entry of a probe round.
 *
 * @example
 * ```js
 * for (const p of await probeEntries(document)) console.log(p.entry, p.result?.trusted, `${p.durationMs} ms`)
 * ```
 */
export interface EntryProbe extends ProbeTarget {
  /** What inspect() found; null when the entry could not be probed (see `reason`). */
  readonly result: InspectResult | null;
  /** How long the probe took, in milliseconds (0 when not probed). */
  readonly durationMs: number;
}

/**
 * Options of {@link probeEntries}: network options, how many probes at once, and progress callbacks.
 *
 * @example
 * ```js
 * await probeEntries(document, { concurrency: 16, timeout: 5000, onProbe: (p) => console.log(`${p.entry} done`) })
 * ```
 */
export interface ProbeEntriesOptions extends InspectOptions {
  /** Probes in flight at once. @default 8 */
  concurrency?: number;
  /** Called once before probing, with the number of entries (for a progress display). */
  onStart?: (total: number) => void;
  /** Called as each entry's probe settles. */
  onProbe?: (probe: EntryProbe) => void;
}

/**
 * Probes every entry of a pin file, a bounded number at a time, and returns the results in the
 * entries' order. Never rejects for an unreachable host: its result carries the `error`.
 *
 * @example
 * ```js
 * import { probeEntries, readPinFile } from 'certpin'
 * const { document } = await readPinFile('pins.json')
 * for (const p of await probeEntries(document, { timeout: 5000 })) console.log(p.entry, p.result?.trusted ?? p.reason)
 * ```
 */
export async function probeEntries(config: Pick<PolicyConfig, 'hosts'>, options: ProbeEntriesOptions = {}): Promise<EntryProbe[]> {
  const { concurrency = 8, onStart, onProbe, ...inspectOptions } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`concurrency must be a positive integer, got ${JSON.stringify(concurrency)}`);
  const targets = probeTargets(config);
  onStart?.(targets.length);
  return mapConcurrent(targets, concurrency, async (target) => {
    const probe = await probeOne(target, inspectOptions);
    onProbe?.(probe);
    return probe;
  });
}

async function probeOne(target: ProbeTarget, options: InspectOptions): Promise<EntryProbe> {
  if (target.target === null) return { ...target, result: null, durationMs: 0 };
  const started = performance.now();
  let result: InspectResult;
  try {
    result = await inspect(target.target, options);
  } catch (error) {
    result = { target: target.target, host: null, port: null, trusted: false, error: (error as Error).message, chain: [], unproven: [] };
  }
  return { ...target, result, durationMs: performance.now() - started };
}
