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

/** False when this Node says it cannot `require()` an ES module (22.10 and 22.11 without the flag). */
export function canLoadLater(): boolean {
  return (process.features as { require_module?: boolean }).require_module !== false;
}
