// certpin/register in the threads and processes the application starts (docs/guarantees.md G8,
// docs/node-tls.md N15), and the pins a new worker starts with.
import workerThreads, { type WorkerOptions } from 'node:worker_threads';

/** Key of the worker environment data holding the pin file in force: `{ path, text }`. */
const IN_FORCE = 'certpin/register: pin file in force';

/** `--import certpin/register` (or `--require`, `-r`, `=`) in NODE_OPTIONS. */
const BARE_HOOK = /(^|\s)(--import|--require|-r)(?:=|\s+)certpin\/register(?=\s|$)/g;

/** An argument as Node's NODE_OPTIONS parser reads it: in double quotes, `\\` and `"` escaped. */
const quoted = (value: string): string => `"${value.replace(/[\\"]/g, '\\$&')}"`;

/** A worker started from now on begins with these pins, even if the file turned invalid since. */
export function shareWithWorkers(path: string, text: string): void {
  workerThreads.setEnvironmentData(IN_FORCE, { path, text });
}

/**
 * In a worker: the text of the pin file its parent has in force (the file may have turned invalid
 * since, and the parent keeps its last valid pins); the worker then follows the file itself.
 */
export function inheritedText(path: string): string | undefined {
  if (workerThreads.isMainThread) return undefined;
  const inherited = workerThreads.getEnvironmentData(IN_FORCE) as { path: string; text: string } | undefined;
  return inherited?.path === path ? inherited.text : undefined;
}

/** The hook's module, as a file path (for `--require`) and as a URL (for `--import`). */
export interface HookModule {
  readonly file: string;
  readonly url: string;
}

/**
 * Extends the hook (its module `hook`) to the threads and processes the application starts.
 *
 * Workers have their own copies of the built-in modules, so the hook must run in each. `--require`
 * preloads do run in every worker, but `--import` ones only in workers started from a file or URL:
 * an `eval: true` worker runs as a classic script, without the ES module loader's start-up step that
 * imports the `--import` list (Node 20, 22 and 24 alike). And a worker given `execArgv` gets no
 * inherited flag at all. So `Worker` becomes a subclass giving every worker `--require <hook file>`
 * in the NODE_OPTIONS of its `env`, which Node parses for a worker whatever its `execArgv`; a worker
 * sharing the process's environment (`SHARE_ENV`) gets it in `execArgv` instead.
 *
 * Child processes: `spawn(process.execPath, …)` gets none of its parent's command-line flags (`fork`
 * passes `execArgv`), but inherits the environment. So the hook adds itself to the process's own
 * `NODE_OPTIONS` (as if the process had been started with `NODE_OPTIONS=--import certpin/register`)
 * and makes `CERTPIN_CONFIG` absolute, so a child in another folder reads the same file.
 */
export function pinWorkersAndChildren(path: string, hook: HookModule): void {
  process.env.CERTPIN_CONFIG = path;
  const { file: hookFile, url } = hook;
  // A bare `certpin/register` resolves from the child's folder, which may have no certpin: name the file.
  const options = (process.env.NODE_OPTIONS ?? '').replace(BARE_HOOK, (_match, lead: string, flag: string) => `${lead}${flag} ${quoted(flag === '--import' ? url : hookFile)}`);
  process.env.NODE_OPTIONS = options.includes(url) || options.includes(hookFile) ? options : `${options} --import ${quoted(url)}`.trim();
  const OriginalWorker = workerThreads.Worker;
  const withHook = (options: WorkerOptions | null | undefined): WorkerOptions => {
    const given = options ?? {};
    if (given.env === workerThreads.SHARE_ENV) {
      // Node reads an environment's NODE_OPTIONS for a worker only when it is given an env of its own.
      // If process.execArgv holds a flag no worker accepts, this throws ERR_WORKER_INVALID_EXEC_ARGV:
      // loud, never an unpinned worker. Giving the worker `execArgv` (or its own env) avoids it.
      return { ...given, execArgv: [...(given.execArgv ?? process.execArgv), '--require', hookFile] };
    }
    const env: NodeJS.Dict<string> = { ...((given.env as NodeJS.Dict<string> | null | undefined) ?? process.env) };
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --require ${quoted(hookFile)}`.trim();
    env.CERTPIN_CONFIG = path;
    // The process trusts NODE_EXTRA_CA_CERTS whatever a worker's env says (OpenSSL reads it once per
    // process); certpin's chain prover reads it from process.env, so the worker must see it too.
    if (env.NODE_EXTRA_CA_CERTS === undefined && process.env.NODE_EXTRA_CA_CERTS !== undefined) env.NODE_EXTRA_CA_CERTS = process.env.NODE_EXTRA_CA_CERTS;
    return { ...given, env };
  };
  class Worker extends OriginalWorker {
    constructor(filename: string | URL, options?: WorkerOptions | null) {
      super(filename, withHook(options));
    }
  }
  workerThreads.Worker = Worker;
}
