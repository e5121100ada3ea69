/**
 * The process-wide hook: `node --import certpin/register app.js` (or `--require certpin/register`,
 * or either in `NODE_OPTIONS`) pins every TLS client of the process to the pin file named by
 * `CERTPIN_CONFIG`, with no change to the application.
 *
 * Every TLS client in Node opens its connections through the `connect` export of `node:tls`, looked up
 * on the module object at call time: `https.Agent` (so `https.get`, axios, got, ws), `http2.connect`,
 * and undici (Node's bundled copy behind global `fetch`, and the npm package), checked on Node 20 and
 * 24. That one export is replaced, so pins hold whichever agent or dispatcher does the pooling, also
 * one installed with `setGlobalDispatcher` after this hook ran.
 *
 * The hook reaches the threads and processes the application starts (register/propagate.ts): every
 * `Worker` loads it, and it adds itself to `process.env.NODE_OPTIONS` (and makes
 * `CERTPIN_CONFIG` absolute) so that child Node processes inherit it. A child given an environment
 * without them is not pinned.
 *
 * `settings.caFile` is the trust store of every connection, to pinned and unpinned hosts. The pin file
 * is followed however it is replaced, a Kubernetes `..data` symlink swap included (pinfile/follow.ts).
 *
 * This module is the entry and stays small: start-up reads and checks the pin file and installs the
 * patches; the policy, the chain prover, the handshake check and reports load when a connection
 * first needs them (register/load-sync.ts, docs/performance.md).
 *
 * @example
 * ```sh
 * CERTPIN_CONFIG=/etc/myapp/pins.json node --import certpin/register app.js
 * ```
 *
 * This module has no top-level await, so that the CommonJS entry can `require()` it.
 * @packageDocumentation
 */
import { syncBuiltinESMExports } from 'node:module';
import { writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { patchTlsConnect } from './register/connect.js';
import { canLoadLater } from './register/load-sync.js';
import { PinFileInForce } from './register/pin-file.js';
import { inheritedText, pinWorkersAndChildren, shareWithWorkers } from './register/propagate.js';
import { followPinFileChanges } from './register/reload.js';

const REGISTERED = Symbol.for('certpin.register');
const READ_ERRORS: Record<string, string> = { ENOENT: 'no such file', EISDIR: 'it is a folder', EACCES: 'permission denied' };
/**
 * This module, which workers and child processes load too (register/propagate.ts). `import.meta.filename`
 * (Node 20.11+) rather than node:url's fileURLToPath: importing node:url alone costs ~1 ms at start.
 */
const HOOK = { file: import.meta.filename, url: import.meta.url };

/** One line on stderr and a non-zero exit: a process that was asked to be pinned never runs unpinned. */
function refuseToStart(message: string): never {
  writeSync(2, `certpin: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(78); // EX_CONFIG (sysexits.h): the configuration is missing or invalid
}

function readPinFile(path: string, inherited: string | undefined): PinFileInForce {
  try {
    return PinFileInForce.read(path, inherited);
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    refuseToStart(
      err.syscall === undefined
        ? `invalid pin file (CERTPIN_CONFIG): ${err.message}`
        : `cannot read the pin file ${path} (CERTPIN_CONFIG): ${READ_ERRORS[err.code ?? ''] ?? err.message} (${err.code ?? 'error'})`,
    );
  }
}

function register(): void {
  const registry = globalThis as { [REGISTERED]?: string };
  if (registry[REGISTERED] !== undefined) return; // both --require and --import, or two copies of certpin
  const configured = process.env.CERTPIN_CONFIG;
  if (configured === undefined || configured.trim() === '') {
    refuseToStart('CERTPIN_CONFIG is not set: certpin/register needs it to name the pin file to enforce, e.g. CERTPIN_CONFIG=/etc/myapp/pins.json');
  }
  if (!canLoadLater()) {
    refuseToStart(`certpin/register needs Node's require() of ES modules, which is off in this process (Node ${process.version}); it is on by default in Node 20.19+, 22.12+ and 24, and with --experimental-require-module`);
  }
  const path = resolve(configured);
  const inherited = inheritedText(path);
  const inForce = readPinFile(path, inherited);
  shareWithWorkers(path, inForce.text);
  pinWorkersAndChildren(path, HOOK);
  const recheckConnections = patchTlsConnect(inForce);
  // `import { connect } from 'node:tls'` and `import { Worker } from 'node:worker_threads'` in
  // application code read the patched functions too.
  syncBuiltinESMExports();
  followPinFileChanges(
    inForce,
    () => {
      shareWithWorkers(path, inForce.text);
      recheckConnections();
    },
    inherited !== undefined,
  );
  registry[REGISTERED] = path;
}

register();
