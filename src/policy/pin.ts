import { createHash, createPublicKey, KeyObject, X509Certificate } from 'node:crypto';
import { CertpinError } from '../errors.js';
import { readCryptoObjects } from '../lib/pem.js';
import { CANONICAL_PIN } from './canonical.js';

const PIN_PREFIX = 'sha256/';
const BASE64 = /^[A-Za-z0-9+/]{43}=$/;
const certPins = new WeakMap<X509Certificate, string>();

/** The pin of a DER SubjectPublicKeyInfo: `sha256/` + base64(SHA-256(SPKI)). */
export function pinOfSpki(spkiDer: Uint8Array): string {
  return PIN_PREFIX + createHash('sha256').update(spkiDer).digest('base64');
}

/** The DER SubjectPublicKeyInfo of a certificate. `cert.pubkey` is the raw EC point for EC keys, so never that. */
export function spkiOf(cert: X509Certificate): Buffer {
  return cert.publicKey.export({ type: 'spki', format: 'der' });
}

function pinOfCertificate(cert: X509Certificate): string {
  let pin = certPins.get(cert);
  if (pin === undefined) {
    pin = pinOfSpki(spkiOf(cert));
    certPins.set(cert, pin);
  }
  return pin;
}

/**
 * The SPKI SHA-256 pin of a certificate, public key, private key (its public half) or CSR: the value
 * OkHttp, curl (`--pinnedpubkey sha256//…`), HPKP and Android all use. Text and bytes are read as PEM or
 * DER; for a bundle the first object counts.
 *
 * @param input - A certificate or key object, PEM text, or DER bytes (a certificate, an SPKI public
 *   key, a PKCS#8, PKCS#1 or SEC1 private key, or a PKCS#10 CSR).
 * @returns The pin, `sha256/` + base64 of the SHA-256 of the DER SubjectPublicKeyInfo.
 * @throws {@link CertpinError} `ERR_CERTPIN_INVALID_INPUT` when the text or bytes hold nothing readable,
 *   or for a secret (symmetric) key, which has no public key.
 * @throws TypeError when `input` is of none of the accepted types.
 * @example
 * ```js
 * import { readFileSync } from 'node:fs'
 * import { spkiPin } from 'certpin'
 * spkiPin(readFileSync('server.pem')) // 'sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='
 * ```
 */
export function spkiPin(input: X509Certificate | KeyObject | string | Uint8Array): string {
  if (input instanceof X509Certificate) return pinOfCertificate(input);
  if (input instanceof KeyObject) {
    if (input.type === 'secret') {
      throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', 'A secret (symmetric) key has no public key to pin');
    }
    const publicKey = input.type === 'private' ? createPublicKey(input) : input;
    return pinOfSpki(publicKey.export({ type: 'spki', format: 'der' }));
  }
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new TypeError('spkiPin expects an X509Certificate, a KeyObject, PEM text or DER bytes');
  }
  return pinOfSpki(readCryptoObjects(input)[0]!.spki);
}

/**
 * Reads a pin written as `sha256/B64` (OkHttp), `sha256//B64` (curl) or `pin-sha256="B64"` (HPKP) and
 * returns it as `sha256/B64`. Anything else, including SHA-1 pins and values that do not decode to
 * exactly 32 bytes, throws `ERR_CERTPIN_INVALID_PIN` quoting the input.
 *
 * @param text - The pin in any of the three spellings; surrounding white space is ignored.
 * @returns The pin as `sha256/B64`.
 * @throws {@link CertpinError} `ERR_CERTPIN_INVALID_PIN` when `text` is not a SHA-256 SPKI pin.
 * @throws TypeError when `text` is not a string.
 * @example
 * ```js
 * parsePin('pin-sha256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="')
 * // 'sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='
 * ```
 */
export function parsePin(text: string): string {
  if (typeof text !== 'string') throw new TypeError(`a pin must be a string, got ${typeof text}`);
  // The common case, 2,000 times when certpin/register starts with 1,000 hosts (docs/performance.md: < 30 ms).
  if (text.length === 51 && CANONICAL_PIN.test(text)) return text;
  const trimmed = text.trim();
  // Only error messages quote the input: built when one is thrown, not on every call.
  const quoted = (): string => JSON.stringify(text);
  let b64: string | undefined;
  const hpkp = /^pin-sha256\s*=\s*"([^"]*)"$/i.exec(trimmed);
  if (hpkp) b64 = hpkp[1];
  else if (trimmed.startsWith('sha256/')) {
    // Base64 may itself start with '/' (1 pin in 64), so `sha256//…` is curl's spelling only when the
    // OkHttp reading is not already a whole pin; both cannot be, as they differ in length by one.
    b64 = trimmed.slice(7);
    if (trimmed.startsWith('sha256//') && !BASE64.test(b64)) b64 = trimmed.slice(8);
  } else if (/^(sha1\/|pin-sha1)/i.test(trimmed)) {
    throw new CertpinError('ERR_CERTPIN_INVALID_PIN', `SHA-1 pins are not accepted: ${quoted()}; use the sha256/ pin of the same key`);
  } else {
    throw new CertpinError(
      'ERR_CERTPIN_INVALID_PIN',
      `not a SHA-256 pin: ${quoted()}; expected sha256/BASE64, sha256//BASE64 or pin-sha256="BASE64"`,
    );
  }
  if (b64 === undefined || !BASE64.test(b64) || Buffer.from(b64, 'base64').toString('base64') !== b64) {
    const length = b64 !== undefined && /^[A-Za-z0-9+/]*={0,2}$/.test(b64) ? Buffer.from(b64, 'base64').length : undefined;
    const why = length === undefined ? 'not valid base64' : `decodes to ${length} bytes, a SHA-256 pin has 32`;
    throw new CertpinError('ERR_CERTPIN_INVALID_PIN', `not a SHA-256 pin: ${quoted()} (${why})`);
  }
  return PIN_PREFIX + b64;
}
