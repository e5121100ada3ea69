// The pin file certpin/register enforces: its text in force, the full validation of that text and the
// policy built from it, both made when a connection first needs them (see load-sync.ts).
import { readFileSync } from 'node:fs';
import { fingerprintOf, type PinFileContent } from '../pinfile/follow.js';
import type { PinFileConfig } from '../pinfile/load.js';
import type { PinPolicy } from '../policy/policy.js';
import { loadNow } from './load-sync.js';
import { certainlyValidPinFile } from './quick-check.js';

interface PolicyModules {
  pinFileConfig: typeof import('../pinfile/load.js').pinFileConfig;
  PinPolicy: typeof import('../policy/policy.js').PinPolicy;
  normalizeHostname: typeof import('../policy/hosts.js').normalizeHostname;
}

let policyModules: PolicyModules | undefined;

/** The validation, policy and host modules: the largest part of certpin, loaded on first need. */
function modules(): PolicyModules {
  policyModules ??= {
    pinFileConfig: loadNow<typeof import('../pinfile/load.js')>('../pinfile/load.js').pinFileConfig,
    PinPolicy: loadNow<typeof import('../policy/policy.js')>('../policy/policy.js').PinPolicy,
    normalizeHostname: loadNow<typeof import('../policy/hosts.js')>('../policy/hosts.js').normalizeHostname,
  };
  return policyModules;
}

/**
 * Validates a text of the pin file at `path` and reads the CA bundle it names (`settings.caFile`,
 * relative to the file's folder), which then replaces the process's roots as `ca` does in a policy
 * (docs/policy.md); without one the process's own trust store applies: Node's roots and
 * `NODE_EXTRA_CA_CERTS`. Throws `ERR_CERTPIN_INVALID_CONFIG` naming the file and the field at fault.
 */
export function validatePinFile(path: string, text: string): PinFileConfig {
  return modules().pinFileConfig(path, text);
}

/** What the follower compares a read with (pinfile/follow.ts). */
export function contentOf(loaded: PinFileConfig): PinFileContent {
  return { fingerprint: loaded.fingerprint, caFile: loaded.caFilePath };
}

/**
 * The pin file in force. Its full validation and its policy are built on first use: at start-up the
 * quick check (quick-check.ts) is enough to know the file is valid in the common case, and building the
 * policy loads the trust store (Node's ~140 roots), which a process that never connects to a pinned
 * host should not pay for.
 */
export class PinFileInForce {
  readonly path: string;
  #text: string;
  #loaded: PinFileConfig | undefined;
  #policy: PinPolicy | undefined;

  private constructor(path: string, text: string, loaded: PinFileConfig | undefined) {
    this.path = path;
    this.#text = text;
    this.#loaded = loaded;
  }

  /**
   * The pin file at `path` (or `text`, its content as a parent thread holds it), checked: throws what
   * the full validation throws, or the error of reading the file.
   */
  static read(path: string, text: string = readFileSync(path, 'utf8')): PinFileInForce {
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      document = undefined; // the full validation says what is wrong with it
    }
    const certain = document !== undefined && certainlyValidPinFile(document);
    return new PinFileInForce(path, text, certain ? undefined : validatePinFile(path, text));
  }

  get text(): string {
    return this.#text;
  }

  /** The full validation of the text in force. */
  get loaded(): PinFileConfig {
    this.#loaded ??= validatePinFile(this.path, this.#text);
    return this.#loaded;
  }

  /** What the follower starts from: before the full validation, a file the quick check knows names no CA bundle. */
  get content(): PinFileContent {
    return this.#loaded === undefined ? { fingerprint: fingerprintOf(this.#text) } : contentOf(this.#loaded);
  }

  /** The pin file's `caFile` bundle: "trust only this CA", for every connection of the process. */
  get ca(): Buffer | undefined {
    return this.loaded.caFileBytes;
  }

  get policy(): PinPolicy {
    this.#policy ??= new (modules().PinPolicy)(this.loaded.config);
    return this.#policy;
  }

  /** The version connections are tagged with; 0 until the policy is built (no connection is tagged yet). */
  get version(): number {
    return this.#policy?.version ?? 0;
  }

  /** Whether connections to `hostname` are subject to the policy: the host has pins, or `unpinned` is `deny`. */
  governs(hostname: string): boolean {
    const validated = this.loaded.validated;
    if (validated.unpinned === 'deny') return true;
    try {
      return validated.index.lookup(modules().normalizeHostname(hostname)).length > 0;
    } catch {
      return true; // a name certpin cannot read is checked, and refused there if need be
    }
  }

  /** Puts another valid version of the file in force: the policy (if built) is updated in place (G2). */
  apply(loaded: PinFileConfig): void {
    this.#policy?.update(loaded.config);
    this.#loaded = loaded;
    this.#text = loaded.text;
  }
}
