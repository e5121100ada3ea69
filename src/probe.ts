import type { CaInput } from './config.js';

export type ChainRole = 'leaf' | 'intermediate' | 'root' | 'key' | 'csr';

/** One certificate (or key, or CSR) as `certpin pins` shows it. */
export interface ChainEntry {
  role: ChainRole;
  subject: string;
  issuer: string | null;
  notBefore: string | null;
  notAfter: string | null;
  /** Whole days until notAfter, rounded down (negative once expired). */
  daysLeft: number | null;
  pin: string;
  fingerprint256: string | null;
}

export interface InspectResult {
  target: string;
  /** null for files. */
  host: string | null;
  port: number | null;
  /** Whether the chain passed standard validation (trust store, hostname, dates) and was proven to an anchor. */
  trusted: boolean;
  /** Why not trusted, or why the target could not be read; null when all is well. */
  error: string | null;
  /** The verified chain, leaf first, when trusted; else the certificates as served. */
  chain: ChainEntry[];
  /** Served certificates that are not on the proven path (they never count for pinning). */
  unproven: ChainEntry[];
}

export interface InspectOptions {
  /** Trust only these roots (PEM/DER), like curl's --cacert. */
  ca?: CaInput;
  /** curl-style `HOST:PORT:ADDR` overrides of name resolution. */
  resolve?: string[];
  servername?: string;
  /** @default 10000 */
  timeout?: number;
}

/** Placeholder until inspect() lands. */
export async function inspect(_target: string, _options: InspectOptions = {}): Promise<InspectResult> {
  throw new Error('inspect: not implemented yet');
}
