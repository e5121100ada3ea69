// Reads the parts of an X.509 certificate that path validation needs and Node's X509Certificate does
// not expose: exact validity instants, the raw names, and the extensions (RFC 5280 4.2) with their
// criticality. Throws DerError on anything malformed; the chain prover treats that as "unusable".
import { bytesOf, children, contentOf, decodeOid, DerError, readNode, type DerNode } from '../lib/der.js';

export const OID = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  authorityKeyIdentifier: '2.5.29.35',
  policyConstraints: '2.5.29.36',
  extKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  anyExtendedKeyUsage: '2.5.29.37.0',
  commonName: '2.5.4.3',
} as const;

/** A GeneralName (RFC 5280 4.2.1.6), kept only as far as name constraints need it. */
export type GeneralName =
  | { kind: 'dns'; value: string }
  | { kind: 'ip'; bytes: Uint8Array }
  | { kind: 'dn'; rdns: readonly string[] }
  /** otherName, rfc822Name, x400Address, ediPartyName, URI, registeredID: `tag` is the context tag number. */
  | { kind: 'other'; tag: number };

export interface Extension {
  readonly critical: boolean;
  readonly value: DerNode;
}

export interface ParsedCertificate {
  /** 1, 2 or 3. */
  readonly version: number;
  /** Content octets of the serial number INTEGER. */
  readonly serial: Uint8Array;
  readonly signatureAlgorithmsMatch: boolean;
  /** DER of the issuer and subject Names, hex: compared exactly. */
  readonly issuer: string;
  readonly subject: string;
  /** Each RDN of the subject as hex DER, most general first (the order of the encoding). */
  readonly subjectRdns: readonly string[];
  readonly subjectCommonNames: readonly string[];
  /** How many attributes the subject has: a bound on the names it gives name constraints, known without reading them. */
  readonly subjectAttributes: number;
  /** How many emailAddress attributes the subject carries: name constraints treat them as rfc822Names (RFC 5280 4.2.1.10). */
  readonly subjectEmails: number;
  /** The SPKI algorithm OID, and for EC keys whether the curve is named (an explicit curve is not, CA/B Forum BR 7.1.3.1.2). */
  readonly keyAlgorithm: string;
  readonly namedCurve: boolean;
  /** issuerUniqueID or subjectUniqueID present (only v2 and v3 may have them). */
  readonly uniqueIds: boolean;
  /** Milliseconds since the epoch, whole seconds (RFC 5280 4.1.2.5: no fractions). */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly extensions: ReadonlyMap<string, Extension>;
  readonly duplicateExtension: boolean;
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined } | undefined;
  /** The KeyUsage bits, bit 0 (digitalSignature) first; undefined when the extension is absent. */
  readonly keyUsage: readonly boolean[] | undefined;
  readonly extKeyUsage: readonly string[] | undefined;
  readonly subjectAltNames: readonly GeneralName[] | undefined;
  readonly nameConstraints: NameConstraints | undefined;
  readonly subjectKeyIdentifier: string | undefined;
  readonly authorityKeyIdentifier: { readonly keyIdentifier: string | undefined; readonly issuerOrSerial: boolean } | undefined;
}

export interface NameConstraints {
  readonly permitted: readonly GeneralName[];
  readonly excluded: readonly GeneralName[];
  /** A subtree with a minimum or maximum, which RFC 5280 4.2.1.10 forbids. */
  readonly malformed: boolean;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

/** Whether an OID's content octets are those of `encoded` (compared as bytes: no decoding, no allocation). */
function oidIs(node: DerNode, encoded: readonly number[]): boolean {
  if (node.tag !== 0x06 || node.end - node.start !== encoded.length) return false;
  for (let i = 0; i < encoded.length; i++) if (node.buf[node.start + i] !== encoded[i]) return false;
  return true;
}
const COMMON_NAME_OID = [0x55, 0x04, 0x03];
const EMAIL_ADDRESS_OID = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

/** Computes `read()` on first use only: a subject of thousands of attributes costs nothing until name constraints need it. */
function lazy<T>(read: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = read();
      done = true;
    }
    return value;
  };
}

function expect(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node || node.tag !== tag) throw new DerError(`expected ${what}`);
  return node;
}

function whole(buf: Uint8Array): DerNode {
  const node = readNode(buf);
  if (node.end !== buf.length) throw new DerError('trailing bytes after DER value');
  return node;
}

const TIME = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as DER requires them (RFC 5280 4.1.2.5.1/2). */
function readTime(node: DerNode): number {
  const text = latin1(contentOf(node));
  const match = TIME.exec(text);
  if (!match || (node.tag === 0x17) !== (match[1]!.length === 2) || (node.tag !== 0x17 && node.tag !== 0x18)) {
    throw new DerError(`bad certificate time "${text}"`);
  }
  let year = Number(match[1]);
  if (node.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  const [month, day, hour, minute, second] = match.slice(2).map(Number) as [number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(ms);
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new DerError(`bad certificate time "${text}"`);
  }
  return ms;
}

function readBoolean(node: DerNode): boolean {
  const content = contentOf(node);
  if (node.tag !== 0x01 || content.length !== 1) throw new DerError('bad BOOLEAN');
  return content[0] !== 0;
}

function readSmallInteger(node: DerNode): number {
  const content = contentOf(node);
  if (node.tag !== 0x02 || content.length === 0 || content.length > 4 || content[0]! & 0x80) throw new DerError('bad INTEGER');
  let value = 0;
  for (const byte of content) value = value * 256 + byte;
  return value;
}

function nameRdns(name: DerNode): string[] {
  return children(expect(name, 0x30, 'Name')).map((rdn) => {
    expect(rdn, 0x31, 'RelativeDistinguishedName');
    if (children(rdn).length === 0) throw new DerError('empty RDN');
    return hex(bytesOf(rdn));
  });
}

function emailCount(name: DerNode): number {
  let count = 0;
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type] = children(atv);
      if (type !== undefined && oidIs(type, EMAIL_ADDRESS_OID)) count++;
    }
  }
  return count;
}

function commonNames(name: DerNode): string[] {
  const out: string[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(expect(atv, 0x30, 'AttributeTypeAndValue'));
      if (!type || !value) throw new DerError('bad AttributeTypeAndValue');
      if (!oidIs(expect(type, 0x06, 'attribute type'), COMMON_NAME_OID)) continue;
      const content = Buffer.from(contentOf(value));
      out.push(value.tag === 0x1e ? content.swap16().toString('utf16le') : content.toString(value.tag === 0x0c ? 'utf8' : 'latin1'));
    }
  }
  return out;
}

function readGeneralName(node: DerNode): GeneralName {
  switch (node.tag) {
    case 0x82:
      return { kind: 'dns', value: latin1(contentOf(node)) };
    case 0x87:
      return { kind: 'ip', bytes: contentOf(node) };
    case 0xa4: {
      // directoryName is EXPLICIT (a CHOICE): the Name is inside.
      const inner = children(node);
      if (inner.length !== 1) throw new DerError('bad directoryName');
      return { kind: 'dn', rdns: nameRdns(inner[0]!) };
    }
    case 0xa0: case 0x81: case 0xa3: case 0xa5: case 0x86: case 0x88:
      return { kind: 'other', tag: node.tag & 0x1f };
    default:
      throw new DerError(`bad GeneralName tag 0x${node.tag.toString(16)}`);
  }
}

function readSubtrees(node: DerNode): { names: GeneralName[]; malformed: boolean } {
  let malformed = false;
  const names = children(node).map((subtree) => {
    const [base, ...rest] = children(expect(subtree, 0x30, 'GeneralSubtree'));
    if (!base) throw new DerError('empty GeneralSubtree');
    // minimum MUST be zero and maximum MUST be absent (RFC 5280 4.2.1.10).
    for (const bound of rest) {
      if (bound.tag !== 0x80 || contentOf(bound).length !== 1 || contentOf(bound)[0] !== 0) malformed = true;
    }
    return readGeneralName(base);
  });
  return { names, malformed };
}

function readNameConstraints(value: DerNode): NameConstraints {
  let permitted: GeneralName[] = [];
  let excluded: GeneralName[] = [];
  let malformed = false;
  let seen = 0;
  for (const part of children(expect(value, 0x30, 'NameConstraints'))) {
    if (part.tag !== 0xa0 && part.tag !== 0xa1) throw new DerError('bad NameConstraints field');
    const subtrees = readSubtrees(part);
    // GeneralSubtrees is SIZE (1..MAX): an empty list is malformed.
    if (subtrees.names.length === 0 || subtrees.malformed) malformed = true;
    if (part.tag === 0xa0) permitted = subtrees.names;
    else excluded = subtrees.names;
    seen++;
  }
  // "Conforming CAs MUST NOT issue certificates where name constraints is an empty sequence."
  if (seen === 0) malformed = true;
  return { permitted, excluded, malformed };
}

function readKeyUsage(value: DerNode): boolean[] {
  const content = contentOf(expect(value, 0x03, 'KeyUsage BIT STRING'));
  if (content.length < 1 || content[0]! > 7) throw new DerError('bad KeyUsage');
  const bits: boolean[] = [];
  for (let i = 1; i < content.length; i++) for (let b = 7; b >= 0; b--) bits.push(((content[i]! >> b) & 1) === 1);
  return bits;
}

/**
 * Parses a DER certificate's TBSCertificate far enough for RFC 5280 path validation. Throws DerError
 * when it is malformed, or when a known extension cannot be read.
 */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const [tbs, outerAlgorithm, signature] = children(expect(whole(der), 0x30, 'Certificate'));
  expect(tbs, 0x30, 'TBSCertificate');
  expect(outerAlgorithm, 0x30, 'signatureAlgorithm');
  expect(signature, 0x03, 'signatureValue');
  const fields = children(tbs!);
  let i = 0;
  let version = 1;
  if (fields[i]?.tag === 0xa0) {
    const inner = children(fields[i]!);
    if (inner.length !== 1) throw new DerError('bad version');
    version = readSmallInteger(inner[0]!) + 1;
    i++;
  }
  const serial = contentOf(expect(fields[i++], 0x02, 'serialNumber'));
  const innerAlgorithm = expect(fields[i++], 0x30, 'signature');
  const issuer = expect(fields[i++], 0x30, 'issuer');
  const validity = children(expect(fields[i++], 0x30, 'validity'));
  if (validity.length !== 2) throw new DerError('bad validity');
  const subject = expect(fields[i++], 0x30, 'subject');
  const [keyAlgorithmNode] = children(expect(fields[i++], 0x30, 'subjectPublicKeyInfo'));
  const [keyOid, keyParameters] = children(expect(keyAlgorithmNode, 0x30, 'AlgorithmIdentifier'));
  const keyAlgorithm = decodeOid(contentOf(expect(keyOid, 0x06, 'algorithm')));
  let uniqueIds = false;
  while (fields[i] && (fields[i]!.tag === 0x81 || fields[i]!.tag === 0xa1 || fields[i]!.tag === 0x82 || fields[i]!.tag === 0xa2)) {
    uniqueIds = true;
    i++;
  }
  const extensions = new Map<string, Extension>();
  let duplicateExtension = false;
  if (fields[i]?.tag === 0xa3) {
    const inner = children(fields[i]!);
    if (inner.length !== 1) throw new DerError('bad extensions');
    for (const ext of children(expect(inner[0], 0x30, 'Extensions'))) {
      const parts = children(expect(ext, 0x30, 'Extension'));
      const oid = decodeOid(contentOf(expect(parts[0], 0x06, 'extnID')));
      const critical = parts.length === 3 ? readBoolean(parts[1]!) : false;
      const octets = expect(parts[parts.length - 1], 0x04, 'extnValue');
      if (parts.length < 2 || parts.length > 3) throw new DerError('bad Extension');
      if (extensions.has(oid)) duplicateExtension = true;
      extensions.set(oid, { critical, value: whole(contentOf(octets)) });
    }
    i++;
  }
  if (i !== fields.length) throw new DerError('unexpected TBSCertificate field');

  const ext = (oid: string): DerNode | undefined => extensions.get(oid)?.value;
  let basicConstraints: ParsedCertificate['basicConstraints'];
  const bc = ext(OID.basicConstraints);
  if (bc) {
    const parts = children(expect(bc, 0x30, 'BasicConstraints'));
    let ca = false;
    let pathLen: number | undefined;
    for (const part of parts) {
      if (part.tag === 0x01) ca = readBoolean(part);
      else pathLen = readSmallInteger(part);
    }
    basicConstraints = { ca, pathLen };
  }
  const ku = ext(OID.keyUsage);
  const eku = ext(OID.extKeyUsage);
  const san = ext(OID.subjectAltName);
  const nc = ext(OID.nameConstraints);
  const ski = ext(OID.subjectKeyIdentifier);
  const aki = ext(OID.authorityKeyIdentifier);
  let authorityKeyIdentifier: ParsedCertificate['authorityKeyIdentifier'];
  if (aki) {
    let keyIdentifier: string | undefined;
    let issuerOrSerial = false;
    for (const part of children(expect(aki, 0x30, 'AuthorityKeyIdentifier'))) {
      if (part.tag === 0x80) keyIdentifier = hex(contentOf(part));
      else issuerOrSerial = true;
    }
    authorityKeyIdentifier = { keyIdentifier, issuerOrSerial };
  }
  // The subject must be a well-formed Name now; its attributes are read when name constraints need them.
  if (!children(subject).every((rdn) => rdn.tag === 0x31)) throw new DerError('bad subject Name');
  const subjectRdns = lazy(() => nameRdns(subject));
  const subjectCommonNames = lazy(() => commonNames(subject));
  const subjectEmails = lazy(() => emailCount(subject));
  const aia = ext(OID.authorityInfoAccess);
  // AuthorityInfoAccessSyntax is SEQUENCE SIZE (1..MAX) OF AccessDescription.
  if (aia && children(expect(aia, 0x30, 'AuthorityInfoAccess')).length === 0) throw new DerError('empty AuthorityInfoAccess');
  return {
    version,
    serial,
    signatureAlgorithmsMatch: Buffer.from(bytesOf(innerAlgorithm)).equals(bytesOf(outerAlgorithm!)),
    issuer: hex(bytesOf(issuer)),
    subject: hex(bytesOf(subject)),
    subjectAttributes: children(subject).reduce((n, rdn) => n + children(rdn).length, 0),
    get subjectRdns() {
      return subjectRdns();
    },
    get subjectCommonNames() {
      return subjectCommonNames();
    },
    get subjectEmails() {
      return subjectEmails();
    },
    keyAlgorithm,
    namedCurve: keyParameters?.tag === 0x06,
    uniqueIds,
    notBefore: readTime(validity[0]!),
    notAfter: readTime(validity[1]!),
    extensions,
    duplicateExtension,
    basicConstraints,
    keyUsage: ku ? readKeyUsage(ku) : undefined,
    extKeyUsage: eku ? children(expect(eku, 0x30, 'ExtKeyUsageSyntax')).map((n) => decodeOid(contentOf(expect(n, 0x06, 'KeyPurposeId')))) : undefined,
    subjectAltNames: san ? children(expect(san, 0x30, 'GeneralNames')).map(readGeneralName) : undefined,
    nameConstraints: nc ? readNameConstraints(nc) : undefined,
    subjectKeyIdentifier: ski ? hex(contentOf(expect(ski, 0x04, 'SubjectKeyIdentifier'))) : undefined,
    authorityKeyIdentifier,
  };
}

/**
 * The DER SubjectPublicKeyInfo inside a certificate, as the CA signed it: hashing these bytes gives
 * the pin without building a KeyObject and re-encoding it (which costs OpenSSL 3 far more than the
 * hash). Throws DerError when the certificate is malformed.
 */
export function spkiBytes(der: Uint8Array): Uint8Array {
  const [tbs] = children(expect(whole(der), 0x30, 'Certificate'));
  const fields = children(expect(tbs, 0x30, 'TBSCertificate'));
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  return bytesOf(expect(fields[offset + 5], 0x30, 'subjectPublicKeyInfo'));
}
