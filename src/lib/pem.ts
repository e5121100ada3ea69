import { createPrivateKey, createPublicKey, KeyObject, X509Certificate } from 'node:crypto';
import { CertpinError } from '../errors.js';
import { bytesOf, children, contentOf, decodeOid, DerError, readNode, type DerNode } from './der.js';

/** One certificate, key or CSR read from PEM or DER. `spki` is the DER SubjectPublicKeyInfo. */
export type CryptoObject =
  | { kind: 'certificate'; certificate: X509Certificate; spki: Buffer }
  | { kind: 'key'; publicKey: KeyObject; private: boolean; spki: Buffer }
  | { kind: 'csr'; subject: string; spki: Buffer; der: Buffer };

const PEM_BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const IGNORED_BLOCKS = new Set(['EC PARAMETERS', 'DH PARAMETERS', 'X509 CRL']);

function invalid(message: string, cause?: unknown): CertpinError {
  return new CertpinError('ERR_CERTPIN_INVALID_INPUT', message, cause === undefined ? undefined : { cause });
}

function spkiOfKey(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ type: 'spki', format: 'der' });
}

function certificateObject(certificate: X509Certificate): CryptoObject {
  return { kind: 'certificate', certificate, spki: certificate.publicKey.export({ type: 'spki', format: 'der' }) };
}

function keyObject(key: KeyObject): CryptoObject {
  return { kind: 'key', publicKey: key.type === 'private' ? createPublicKey(key) : key, private: key.type === 'private', spki: spkiOfKey(key) };
}

const NAME_ATTRIBUTES: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber', '1.2.840.113549.1.9.1': 'emailAddress', '0.9.2342.19200300.100.1.25': 'DC',
};

function decodeString(node: DerNode): string {
  const content = Buffer.from(contentOf(node));
  if (node.tag === 0x1e) return content.swap16().toString('utf16le');
  return content.toString(node.tag === 0x0c ? 'utf8' : 'latin1');
}

/** An X.501 Name as RFC 4514 text, most specific first (`CN=a, O=b`). */
export function decodeName(name: DerNode): string {
  const parts: string[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      if (!type || !value) throw new DerError('bad AttributeTypeAndValue');
      const oid = decodeOid(contentOf(type));
      parts.push(`${NAME_ATTRIBUTES[oid] ?? oid}=${decodeString(value)}`);
    }
  }
  return parts.reverse().join(', ');
}

/**
 * A subject or issuer as Node prints it (`C=US\nO=x\nCN=y`) turned into RFC 4514 order (`CN=y, O=x, C=US`).
 * An empty name, which Node gives as `undefined` (docs/node-tls.md N17), is the empty string.
 */
export function formatName(nodeName: string | undefined): string {
  if (typeof nodeName !== 'string') return '';
  return nodeName.split('\n').filter(Boolean).reverse().join(', ');
}

// PKCS#10: CertificationRequest ::= SEQUENCE { certificationRequestInfo SEQUENCE { version INTEGER (0),
// subject Name, subjectPKInfo SubjectPublicKeyInfo, attributes [0] }, signatureAlgorithm, signature }
function parseCsr(der: Buffer): CryptoObject | undefined {
  try {
    const outer = readNode(der);
    if (outer.tag !== 0x30 || outer.end !== der.length) return undefined;
    const [info] = children(outer);
    if (!info || info.tag !== 0x30) return undefined;
    const [version, subject, spkiNode, attributes] = children(info);
    if (!version || version.tag !== 0x02 || !subject || subject.tag !== 0x30 || !spkiNode || spkiNode.tag !== 0x30) return undefined;
    if (!attributes || attributes.tag !== 0xa0) return undefined;
    const spki = Buffer.from(bytesOf(spkiNode));
    createPublicKey({ key: spki, format: 'der', type: 'spki' });
    return { kind: 'csr', subject: decodeName(subject), spki, der };
  } catch {
    return undefined;
  }
}

function fromDer(der: Buffer, what: string): CryptoObject {
  if (der.length === 0) throw invalid(`${what} is empty`);
  try {
    return certificateObject(new X509Certificate(der));
  } catch {
    // not a certificate; try the other kinds below
  }
  const csr = parseCsr(der);
  if (csr) return csr;
  const attempts: Array<() => KeyObject> = [
    () => createPublicKey({ key: der, format: 'der', type: 'spki' }),
    () => createPublicKey({ key: der, format: 'der', type: 'pkcs1' }),
    () => createPrivateKeyDer(der, 'pkcs8'),
    () => createPrivateKeyDer(der, 'pkcs1'),
    () => createPrivateKeyDer(der, 'sec1'),
  ];
  for (const attempt of attempts) {
    try {
      return keyObject(attempt());
    } catch {
      // try the next encoding
    }
  }
  throw invalid(`${what} is not a certificate, public key, private key or CSR (PEM or DER)`);
}

function createPrivateKeyDer(der: Buffer, type: 'pkcs8' | 'pkcs1' | 'sec1'): KeyObject {
  return createPrivateKey({ key: der, format: 'der', type });
}

function fromPem(label: string, body: string, what: string): CryptoObject | undefined {
  if (IGNORED_BLOCKS.has(label)) return undefined;
  const cleaned = body.replace(/^[A-Za-z-]+:.*$/gm, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(cleaned) || cleaned.length === 0) {
    throw invalid(`${what}: the PEM block "${label}" is not valid base64`);
  }
  const der = Buffer.from(cleaned, 'base64');
  if (label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(body)) {
    throw invalid(`${what} holds an encrypted private key; decrypt it first or give its certificate or public key`);
  }
  try {
    switch (label) {
      case 'CERTIFICATE':
      case 'X509 CERTIFICATE':
      case 'TRUSTED CERTIFICATE':
        return certificateObject(new X509Certificate(der));
      case 'CERTIFICATE REQUEST':
      case 'NEW CERTIFICATE REQUEST': {
        const csr = parseCsr(der);
        if (!csr) throw new Error('not a PKCS#10 request');
        return csr;
      }
      case 'PUBLIC KEY':
        return keyObject(createPublicKey({ key: der, format: 'der', type: 'spki' }));
      case 'RSA PUBLIC KEY':
        return keyObject(createPublicKey({ key: der, format: 'der', type: 'pkcs1' }));
      case 'PRIVATE KEY':
        return keyObject(createPrivateKeyDer(der, 'pkcs8'));
      case 'RSA PRIVATE KEY':
        return keyObject(createPrivateKeyDer(der, 'pkcs1'));
      case 'EC PRIVATE KEY':
        return keyObject(createPrivateKeyDer(der, 'sec1'));
      default:
        throw invalid(`${what}: unsupported PEM block "${label}"`);
    }
  } catch (error) {
    if (error instanceof CertpinError) throw error;
    throw invalid(`${what}: the PEM block "${label}" is damaged or truncated (${(error as Error).message})`, error);
  }
}

/**
 * The PEM blocks of `text`, in order, in one pass: each BEGIN line is matched with the next END line
 * of its label, and the first BEGIN without one ends the reading. (A lazy regex from every BEGIN to
 * its END rescanned the rest of the text for each unmatched BEGIN: 32k of them took seconds.)
 */
function* pemBlocks(text: string, what: string): Generator<{ label: string; body: string }> {
  const begin = new RegExp(PEM_BEGIN.source, 'g');
  for (let match = begin.exec(text); match; match = begin.exec(text)) {
    const label = match[1]!;
    const start = match.index + match[0].length;
    const endLine = `-----END ${label}-----`;
    const end = text.indexOf(endLine, start);
    if (end < 0) throw invalid(`${what}: a PEM block "${label}" has no matching END line (truncated?)`);
    yield { label, body: text.slice(start, end) };
    begin.lastIndex = end + endLine.length;
  }
}

/**
 * Reads every certificate, key and CSR in PEM text or DER bytes, in order. Throws
 * `ERR_CERTPIN_INVALID_INPUT` for anything unreadable, naming `what` (a file name, say).
 */
export function readCryptoObjects(input: string | Uint8Array, what = 'the input'): CryptoObject[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const text = bytes.toString('latin1');
  if (text.includes('-----BEGIN ')) {
    const objects: CryptoObject[] = [];
    for (const { label, body } of pemBlocks(text, what)) {
      const object = fromPem(label, body, what);
      if (object) objects.push(object);
    }
    if (objects.length === 0) throw invalid(`${what} holds no certificate, key or CSR`);
    return objects;
  }
  if (typeof input === 'string' && !/[^\x20-\x7e\s]/.test(input)) {
    throw invalid(`${what} is neither PEM nor DER`);
  }
  return [fromDer(bytes, what)];
}

/**
 * The certificates of PEM or DER input, in order: a CA bundle, or a chain saved from a server
 * (`openssl s_client -showcerts`), as {@link PinPolicy.check} takes it. Node's `X509Certificate`
 * reads only the first certificate of a bundle; this reads them all, and refuses keys and CSRs.
 *
 * @param input - PEM text or bytes (any number of certificates; EC or DH parameters and CRLs
 *   are skipped), or the bytes of one DER certificate.
 * @param what - How error messages name the input, e.g. a file name (else `the input`).
 * @returns The certificates, in input order.
 * @throws {@link CertpinError} `ERR_CERTPIN_INVALID_INPUT` naming `what` when the input holds no
 *   certificate, a damaged one, or a key or CSR.
 * @example
 * ```js
 * import { readFileSync } from 'node:fs'
 * import { readCertificates } from 'certpin'
 * const chain = readCertificates(readFileSync('served-chain.pem'), 'served-chain.pem')
 * console.log(policy.check('api.example.com', chain).outcome) // 'pinned', 'mismatch', …
 * ```
 */
export function readCertificates(input: string | Uint8Array, what = 'the input'): X509Certificate[] {
  const certificates: X509Certificate[] = [];
  for (const object of readCryptoObjects(input, what)) {
    if (object.kind !== 'certificate') throw invalid(`${what} holds a ${object.kind === 'csr' ? 'CSR' : 'key'} where only certificates are expected`);
    certificates.push(object.certificate);
  }
  return certificates;
}
