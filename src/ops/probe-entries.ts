import type { PolicyConfig } from '../policy/config.js';
import { inspect, type InspectOptions, type InspectResult } from '../probe/inspect.js';
import { mapConcurrent } from '../lib/concurrency.js';
import { probeTargets, type ProbeTarget } from '../pinfile/targets.js';

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
