import { createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CertpinError } from '../errors.js';
import { createCsr, parseDistinguishedName } from '../lib/x509.js';
import { spkiPin } from '../policy/pin.js';

/**
 * The key types `keygen` makes: what TLS servers and the other pinning systems all accept.
 *
 * @example
 * ```js
 * if (!KEY_TYPES.includes(type)) throw new Error(`type must be one of ${KEY_TYPES.join(', ')}`)
 * ```
 */
export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096', 'ed25519'] as const;
/**
 * One of {@link KEY_TYPES}.
 *
 * @example
 * ```ts
 * import { createBackupKey, type KeyType } from 'certpin'
 * const type: KeyType = 'ec-p384'
 * await createBackupKey({ type, out: 'backup.key' })
 * ```
 */
export type KeyType = (typeof KEY_TYPES)[number];

/**
 * Options of {@link createBackupKey}.
 *
 * @example
 * ```js
 * await createBackupKey({ type: 'rsa-3072', out: 'backup.key', csr: { path: 'backup.csr', subject: 'CN=api.example.com,O=Example' } })
 * ```
 */
export interface BackupKeyOptions {
  /** The key's algorithm and size. */
  type: KeyType;
  /** Where the PKCS#8 PEM private key goes. Must not exist. */
  out: string;
  /** Also write a CSR signed by the key, for the CA that will one day certify it. Must not exist. */
  csr?: {
    /** Where the PEM CSR goes. */
    path: string;
    /** The CSR's subject as an RFC 4514 string, as written: `CN=a,O=b`. */
    subject: string;
    /** Subject alternative names it asks for: DNS names (`*.` allowed) or IP addresses. */
    san?: readonly string[] | undefined;
  } | undefined;
  /**
   * Also write the public key (SPKI PEM) here, e.g. for `curl --pinnedpubkey FILE`, which reads a
   * public key file and not a private one. Must not exist. {@link defaultPublicKeyPath} names one.
   */
  publicKeyOut?: string | undefined;
}

/**
 * A backup key written by {@link createBackupKey}, and its pin.
 *
 * @example
 * ```js
 * const { pin, keyPath } = await createBackupKey({ type: 'ec-p256', out: 'backup.key' })
 * await addPin('pins.json', 'api.example.com', pin, { status: 'backup', note: `${keyPath}, kept offline` })
 * ```
 */
export interface BackupKey {
  /** The key's SPKI pin (the CSR has the same). */
  pin: string;
  /** The path the private key was written to (mode 0600). */
  keyPath: string;
  /** The path of the CSR, or null when none was asked for. */
  csrPath: string | null;
  /** Where the public key PEM went, or null when none was asked for. */
  publicKeyPath: string | null;
  /** The key's type. */
  type: KeyType;
}

const generate = promisify(generateKeyPair) as (type: string, options: object) => Promise<{ privateKey: KeyObject }>;

const PARAMETERS: Readonly<Record<KeyType, [string, object]>> = {
  'ec-p256': ['ec', { namedCurve: 'P-256' }],
  'ec-p384': ['ec', { namedCurve: 'P-384' }],
  'rsa-2048': ['rsa', { modulusLength: 2048 }],
  'rsa-3072': ['rsa', { modulusLength: 3072 }],
  'rsa-4096': ['rsa', { modulusLength: 4096 }],
  ed25519: ['ed25519', {}],
};

/** A new private key of one of {@link KEY_TYPES}. */
export async function generateKey(type: KeyType): Promise<KeyObject> {
  const parameters = PARAMETERS[type];
  if (!Object.hasOwn(PARAMETERS, type) || parameters === undefined) {
    throw new TypeError(`unknown key type ${JSON.stringify(type)}; use one of ${KEY_TYPES.join(', ')}`);
  }
  return (await generate(...parameters)).privateKey;
}

/**
 * Creates `path` and writes `text` to it, refusing to replace anything: `wx` fails if the path exists
 * (a symlink included), so a key is never written over another key or through a planted link. The mode
 * is set again with fchmod because `open`'s mode is narrowed by the umask, never widened, and a
 * permissive umask must not matter either way.
 */
async function writeNewFile(path: string, text: string, mode: number): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `${path} already exists; certpin never overwrites a file here: choose another path`, { cause: error });
    }
    const why =
      code === 'ENOENT' ? `the folder ${dirname(path)} does not exist; create it first` :
      code === 'ENOTDIR' ? `${dirname(path)} is not a folder` :
      code === 'EACCES' || code === 'EPERM' ? `permission denied in ${dirname(path)}` :
      code === 'EISDIR' ? 'it is a folder' : undefined;
    if (why !== undefined) throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `cannot write ${path}: ${why}`, { cause: error });
    throw error;
  }
  try {
    await handle.chmod(mode);
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(path).catch(() => undefined);
    throw error;
  }
  await handle.close();
}

/**
 * Generates a backup key, writes it as PKCS#8 PEM readable by its owner only (0600) and returns its
 * pin. Keep the key offline; when the current key is lost or compromised, a certificate for this one
 * keeps pinned clients working. With `csr`, also writes a certificate signing request signed by the
 * key. Neither file may exist already; on any failure nothing is left behind.
 *
 * @param options - `type` (one of {@link KEY_TYPES}), `out` (the key's path) and, optionally, `csr`
 *   (`path` and an RFC 4514 `subject` such as `CN=api.example.com,O=Example`).
 * @returns The key's pin and the paths written.
 * @throws {@link CertpinError} `ERR_CERTPIN_INVALID_INPUT` when the key or CSR file already exists.
 * @throws TypeError for an unknown key type or a subject that is not an RFC 4514 name.
 * @throws Error with Node's `code` (EACCES, ENOENT, …) when a file cannot be written.
 * @example
 * ```js
 * import { createBackupKey } from 'certpin'
 * const { pin } = await createBackupKey({ type: 'ec-p256', out: 'backup-2027.key', csr: { path: 'backup-2027.csr', subject: 'CN=api.example.com,O=Example' } })
 * // add `pin` to the host's pins with status "backup"
 * ```
 */
export async function createBackupKey(options: BackupKeyOptions): Promise<BackupKey> {
  if (!(KEY_TYPES as readonly string[]).includes(options.type)) {
    throw new TypeError(`unknown key type ${JSON.stringify(options.type)}; use one of ${KEY_TYPES.join(', ')}`);
  }
  if (options.csr) parseDistinguishedName(options.csr.subject);
  const names = options.csr?.san === undefined ? {} : subjectAltNames(options.csr.san);
  const key = await generateKey(options.type);
  const pem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
  const csr = options.csr ? createCsr(options.csr.subject, key, names) : undefined;
  const written: string[] = [];
  const write = async (path: string, text: string, mode: number) => {
    await writeNewFile(path, text, mode);
    written.push(path);
  };
  try {
    await write(options.out, pem, 0o600);
    if (options.csr && csr !== undefined) await write(options.csr.path, csr, 0o644);
    if (options.publicKeyOut !== undefined) await write(options.publicKeyOut, createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string, 0o644);
  } catch (error) {
    // All or nothing: no key without the files asked for beside it.
    for (const path of written) await unlink(path).catch(() => undefined);
    throw error;
  }
  return { pin: spkiPin(key), keyPath: options.out, csrPath: options.csr?.path ?? null, publicKeyPath: options.publicKeyOut ?? null, type: options.type };
}

/** DNS names and IP addresses for a CSR, each checked: a typo here would be certified as written. */
function subjectAltNames(san: readonly string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of san) {
    if (isIP(name) !== 0) ipAddresses.push(name);
    else if (/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(name) && name.length <= 253) dnsNames.push(name.toLowerCase());
    else throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `not a DNS name or IP address for the CSR: ${JSON.stringify(name)}`);
  }
  return { dnsNames, ipAddresses };
}

/**
 * Where `keygen` puts the public key of a private key file by default: beside it, `backup.key` giving
 * `backup.pub.pem` (a `.key` or `.pem` extension is replaced, anything else gets `.pub.pem` added).
 *
 * @param keyPath - the path of the private key file.
 * @throws Never: it only computes a path.
 * @example
 * ```js
 * defaultPublicKeyPath('/keys/backup-2027.key') // '/keys/backup-2027.pub.pem'
 * ```
 */
export function defaultPublicKeyPath(keyPath: string): string {
  const name = basename(keyPath);
  const stem = /\.(key|pem)$/i.test(name) ? name.replace(/\.(key|pem)$/i, '') : name;
  return join(dirname(keyPath), `${stem}.pub.pem`);
}
