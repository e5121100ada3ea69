// Builds X.509 certificates and PKCS#10 requests, which Node can read but not write. Used by `keygen
// --csr`, by `certpin demo` for its throwaway PKI, and by the tests for theirs.
import { createHash, createPublicKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import * as der from './der.js';

export interface NameAttribute {
  type: string;
  value: string;
}

const ATTRIBUTE_OIDS: Record<string, string> = {
  CN: '2.5.4.3', C: '2.5.4.6', L: '2.5.4.7', ST: '2.5.4.8', O: '2.5.4.10', OU: '2.5.4.11',
  SERIALNUMBER: '2.5.4.5', EMAILADDRESS: '1.2.840.113549.1.9.1', DC: '0.9.2342.19200300.100.1.25',
};

/** Parses an RFC 4514 string (`CN=a,O=b`; `\,` escapes a comma). Throws a TypeError naming the bad part. */
export function parseDistinguishedName(text: string): NameAttribute[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      current += text[++i];
    } else if (ch === ',' || ch === '+') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((part) => {
    const eq = part.indexOf('=');
    const type = part.slice(0, eq).trim().toUpperCase();
    const value = part.slice(eq + 1).trim();
    if (eq <= 0 || !ATTRIBUTE_OIDS[type] || value === '') {
      throw new TypeError(`not an RFC 4514 distinguished name: "${text}" (bad part "${part.trim()}"; use e.g. CN=backup,O=Example)`);
    }
    return { type, value };
  });
}

function encodeName(text: string): Uint8Array {
  // An empty subject is legal for a leaf named by its subjectAltName (RFC 5280 4.1.2.6).
  if (text === '') return der.seq();
  const rdns = parseDistinguishedName(text).reverse().map(({ type, value }) =>
    der.set(der.seq(der.oid(ATTRIBUTE_OIDS[type]!), type === 'C' ? der.printableString(value) : der.utf8String(value))),
  );
  return der.seq(...rdns);
}

function signatureAlgorithm(key: KeyObject): { algorithm: Uint8Array; digest: string | null } {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { algorithm: der.seq(der.oid('1.2.840.113549.1.1.11'), der.nullValue()), digest: 'sha256' };
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'secp384r1') return { algorithm: der.seq(der.oid('1.2.840.10045.4.3.3')), digest: 'sha384' };
      return { algorithm: der.seq(der.oid('1.2.840.10045.4.3.2')), digest: 'sha256' };
    }
    case 'ed25519':
      return { algorithm: der.seq(der.oid('1.3.101.112')), digest: null };
    default:
      throw new TypeError(`cannot sign with a ${String(key.asymmetricKeyType)} key`);
  }
}

function signed(body: Uint8Array, key: KeyObject): Uint8Array {
  const { algorithm, digest } = signatureAlgorithm(key);
  return der.seq(body, algorithm, der.bitString(sign(digest, body, key)));
}

function spkiDer(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ type: 'spki', format: 'der' });
}

function keyIdentifier(key: KeyObject): Buffer {
  return createHash('sha1').update(spkiDer(key)).digest();
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? der.seq(der.oid(oid), der.boolean(true), der.octetString(value))
    : der.seq(der.oid(oid), der.octetString(value));
}

function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return Uint8Array.from(ip.split('.').map(Number));
  const url = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head = '', tail = ''] = url.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = url.includes('::')
    ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
    : headGroups;
  return Buffer.concat(groups.map((g) => { const b = Buffer.alloc(2); b.writeUInt16BE(parseInt(g, 16)); return b; }));
}

export interface CertificateOptions {
  /** RFC 4514 subject, e.g. `CN=api.example.test,O=Example`. */
  subject: string;
  /** The key the certificate is for (private or public). */
  publicKey: KeyObject;
  /** Signs the certificate; omit for a self-signed one (then `publicKey` must be the private key). */
  issuer?: { subject: string; privateKey: KeyObject };
  ca?: boolean;
  pathLength?: number;
  dnsNames?: string[];
  ipAddresses?: string[];
  notBefore?: Date;
  notAfter?: Date;
  serial?: Uint8Array;
  /** Leave out the subject/authority key identifiers, as some real CAs still do. */
  omitKeyIdentifiers?: boolean;
  /** Replaces the leaf's extendedKeyUsage (serverAuth, clientAuth) with these OIDs; `[]` leaves it out. */
  extKeyUsage?: string[];
  /** For a CA: false gives a keyUsage without keyCertSign (a CA that must not issue certificates). */
  keyCertSign?: boolean;
  /** RFC 5280 4.2.1.10 dNSName subtrees, for a CA. */
  nameConstraints?: { permittedDns?: string[]; excludedDns?: string[] };
}

/** Builds and signs an X.509 v3 certificate. */
export function createCertificate(options: CertificateOptions): { certificate: X509Certificate; pem: string; der: Buffer } {
  const issuerSubject = options.issuer?.subject ?? options.subject;
  const signingKey = options.issuer?.privateKey ?? options.publicKey;
  if (signingKey.type !== 'private') throw new TypeError('a self-signed certificate needs the private key as publicKey');
  const now = Date.now();
  const notBefore = options.notBefore ?? new Date(now - 60 * 60 * 1000);
  const notAfter = options.notAfter ?? new Date(now + 365 * 24 * 60 * 60 * 1000);
  const serial = options.serial ?? Buffer.concat([Uint8Array.of(0x01), randomBytes(15)]);
  const extensions: Uint8Array[] = [];
  if (options.ca) {
    const constraint = options.pathLength === undefined ? [der.boolean(true)] : [der.boolean(true), der.integer(options.pathLength)];
    extensions.push(extension('2.5.29.19', true, der.seq(...constraint)));
    // keyCertSign | cRLSign, or cRLSign alone.
    extensions.push(extension('2.5.29.15', true, options.keyCertSign === false ? Uint8Array.of(0x03, 0x02, 0x01, 0x02) : Uint8Array.of(0x03, 0x02, 0x01, 0x06)));
    const { permittedDns = [], excludedDns = [] } = options.nameConstraints ?? {};
    const subtrees = (names: string[]): Uint8Array[] => names.map((name) => der.seq(der.tlv(0x82, Buffer.from(name, 'latin1'))));
    if (permittedDns.length + excludedDns.length > 0) {
      const parts = [
        ...(permittedDns.length ? [der.tlv(0xa0, ...subtrees(permittedDns))] : []),
        ...(excludedDns.length ? [der.tlv(0xa1, ...subtrees(excludedDns))] : []),
      ];
      extensions.push(extension('2.5.29.30', true, der.seq(...parts)));
    }
  } else {
    extensions.push(extension('2.5.29.19', true, der.seq()));
    const usage = options.publicKey.asymmetricKeyType === 'rsa' ? 0xa0 : 0x80;
    extensions.push(extension('2.5.29.15', true, Uint8Array.of(0x03, 0x02, 0x05, usage)));
    const eku = options.extKeyUsage ?? ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'];
    if (eku.length > 0) extensions.push(extension('2.5.29.37', false, der.seq(...eku.map((o) => der.oid(o)))));
  }
  const altNames = [
    ...(options.dnsNames ?? []).map((name) => der.tlv(0x82, Buffer.from(name, 'latin1'))),
    ...(options.ipAddresses ?? []).map((ip) => der.tlv(0x87, ipBytes(ip))),
  ];
  // With an empty subject the subjectAltName is the only name, and must be critical (RFC 5280 4.2.1.6).
  if (altNames.length > 0) extensions.push(extension('2.5.29.17', options.subject === '', der.seq(...altNames)));
  if (!options.omitKeyIdentifiers) {
    extensions.push(extension('2.5.29.14', false, der.octetString(keyIdentifier(options.publicKey))));
    extensions.push(extension('2.5.29.35', false, der.seq(der.tlv(0x80, keyIdentifier(signingKey)))));
  }
  const tbs = der.seq(
    der.explicit(0, der.integer(2)),
    der.integer(serial),
    signatureAlgorithm(signingKey).algorithm,
    encodeName(issuerSubject),
    der.seq(der.time(notBefore), der.time(notAfter)),
    encodeName(options.subject),
    spkiDer(options.publicKey),
    der.explicit(3, der.seq(...extensions)),
  );
  const bytes = Buffer.from(signed(tbs, signingKey));
  const certificate = new X509Certificate(bytes);
  return { certificate, der: bytes, pem: certificate.toString() };
}

/** Builds a PKCS#10 certificate signing request signed by `privateKey`. Returns PEM. */
export function createCsr(subject: string, privateKey: KeyObject, names: { dnsNames?: readonly string[]; ipAddresses?: readonly string[] } = {}): string {
  const altNames = [
    ...(names.dnsNames ?? []).map((name) => der.tlv(0x82, Buffer.from(name, 'latin1'))),
    ...(names.ipAddresses ?? []).map((ip) => der.tlv(0x87, ipBytes(ip))),
  ];
  // Subject alternative names travel in a PKCS#9 extensionRequest attribute (RFC 2986, RFC 2985 5.4.2).
  const attributes = altNames.length === 0 ? [] : [der.seq(der.oid('1.2.840.113549.1.9.14'), der.set(der.seq(extension('2.5.29.17', false, der.seq(...altNames)))))];
  const info = der.seq(der.integer(0), encodeName(subject), spkiDer(privateKey), der.tlv(0xa0, ...attributes));
  const bytes = Buffer.from(signed(info, privateKey));
  const base64 = bytes.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${base64}-----END CERTIFICATE REQUEST-----\n`;
}
