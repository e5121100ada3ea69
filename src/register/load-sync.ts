// How certpin/register loads its heavy parts (the pin file's full validation, the policy, the chain
// prover, the handshake check, reports) only when a connection first needs them: start-up then pays
// for none of them (docs/performance.md), and a process that never opens a TLS connection never loads
// them. `tls.connect` must return its socket synchronously, so `import()` cannot do it: the parts are
// ES modules loaded with `require()` (Node's require(esm), on by default since 20.19 and 22.12), which
// gives the same module instances `import` does. The hook itself relies on it already: `--require
// certpin/register` and every worker's `--require` of it load this ES module that way.
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

/**
 * The module at `specifier` (relative to this folder), loaded now and synchronously. A failure to load
 * it (a Node without require(esm), a damaged install) is thrown to the caller: `tls.connect` throws,
 * the connection never starts, and nothing goes out unpinned.
 */
export function loadNow<T>(specifier: string): T {
  return requireHere(specifier) as T;
}

/** What {@link canLoadLater} reads, given in tests. */
export interface NodeRuntime {
  readonly features: { readonly require_module?: boolean };
  readonly version: string;
  /** The command line's flags and `NODE_OPTIONS`, where `--experimental-require-module` would be. */
  readonly flags: string;
}

const thisNode = (): NodeRuntime => ({
  features: process.features as { require_module?: boolean },
  version: process.versions.node,
  flags: `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`,
});

/**
 * Whether this Node can `require()` an ES module. Node 22.10+ says so in `process.features`; before
 * it said, require(esm) was on by default in 20.19+ only, and in Node 22.0-22.9 only with
 * `--experimental-require-module`.
 */
export function canLoadLater(node: NodeRuntime = thisNode()): boolean {
  if (node.features.require_module !== undefined) return node.features.require_module;
  const [major = 0, minor = 0] = node.version.split('.').map(Number);
  if (major === 22 && minor < 12) return /(^|\s)--experimental-require-module(\s|$)/.test(node.flags);
  return major > 20 || (major === 20 && minor >= 19);
}
