// A throwaway PKI made at test time with certpin's own certificate builder (Node can read certificates
// but not write them). Generated once per process and shared by every test in it. Pins are computed
// here without certpin, so a test comparing them with spkiPin() checks certpin against Node's crypto.
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCertificate } from '../../build/src/lib/x509.js';

const DAY = 24 * 60 * 60 * 1000;

/** The names every server certificate of the PKI carries (the rogue ones too: a MITM copies them). */
export const SERVER_NAMES = Object.freeze({
  dnsNames: Object.freeze(['localhost', 'api.example.test', '*.example.test']),
  ipAddresses: Object.freeze(['127.0.0.1', '::1']),
});

const KEY_TYPES = {
  'ec-p256': ['ec', { namedCurve: 'P-256' }],
  'ec-p384': ['ec', { namedCurve: 'P-384' }],
  rsa: ['rsa', { modulusLength: 2048 }],
  ed25519: ['ed25519', {}],
};

function generateKey(type) {
  const [algorithm, options] = KEY_TYPES[type];
  return generateKeyPairSync(algorithm, options).privateKey;
}

/** `sha256/` + base64(SHA-256(DER SPKI)) of a public or private KeyObject, straight from Node's crypto. */
export function independentPin(key) {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return `sha256/${createHash('sha256').update(spki).digest('base64')}`;
}

function entry(name, { subject, keyType = 'ec-p256', issuer, ca = false, serverNames = false, notBefore, notAfter, omitKeyIdentifiers }) {
  const key = generateKey(keyType);
  const { certificate, pem, der } = createCertificate({
    subject,
    publicKey: key,
    ...(issuer ? { issuer: { subject: issuer.subject, privateKey: issuer.key } } : {}),
    ca,
    ...(serverNames ? { dnsNames: [...SERVER_NAMES.dnsNames], ipAddresses: [...SERVER_NAMES.ipAddresses] } : {}),
    ...(notBefore ? { notBefore } : {}),
    ...(notAfter ? { notAfter } : {}),
    ...(omitKeyIdentifiers ? { omitKeyIdentifiers } : {}),
  });
  return Object.freeze({
    name,
    subject,
    keyType,
    issuer: issuer ? issuer.name : null,
    key,
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }),
    cert: certificate,
    pem,
    der,
    pin: independentPin(certificate.publicKey),
  });
}

function build() {
  const now = Date.now();
  const pki = {};
  const add = (name, options) => (pki[name] = entry(name, options));
  // An RSA key takes ~100 ms to generate, more than the rest of the PKI together, and most test files
  // never use one: such an entry is made on first read (pki.rsaLeaf, Object.values(pki), writePki…).
  const addLazily = (name, options) => {
    let made;
    Object.defineProperty(pki, name, { get: () => (made ??= entry(name, options)), enumerable: true });
  };
  const leafOf = (issuer, options = {}) => ({ subject: 'CN=api.example.test,O=certpin tests', issuer, serverNames: true, ...options });

  const root = add('root', { subject: 'CN=certpin Test Root', ca: true });
  const intermediate = add('intermediate', { subject: 'CN=certpin Test Intermediate', issuer: root, ca: true });
  const intermediate2 = add('intermediate2', { subject: 'CN=certpin Test Intermediate 2', issuer: root, ca: true });
  add('leaf', leafOf(intermediate));
  add('leaf2', leafOf(intermediate));
  add('leafOnInt2', leafOf(intermediate2));

  const rogueRoot = add('rogueRoot', { subject: 'CN=certpin Rogue Root', ca: true });
  const rogueIntermediate = add('rogueIntermediate', { subject: 'CN=certpin Rogue Intermediate', issuer: rogueRoot, ca: true });
  add('rogueLeaf', leafOf(rogueIntermediate));
  // Names the real intermediate as its issuer but is signed by another key, and carries no authority key
  // identifier to give it away: only a chain check that verifies signatures, not names, rejects it.
  const impostor = { name: 'intermediate', subject: intermediate.subject, key: rogueIntermediate.key };
  add('forgedLeaf', leafOf(impostor, { omitKeyIdentifiers: true }));

  add('expiredLeaf', leafOf(intermediate, { notBefore: new Date(now - 30 * DAY), notAfter: new Date(now - DAY) }));
  add('soonLeaf', leafOf(intermediate, { notAfter: new Date(now + 5 * DAY) }));
  add('leaf20', leafOf(intermediate, { notAfter: new Date(now + 20 * DAY) }));

  addLazily('rsaLeaf', leafOf(intermediate, { keyType: 'rsa' }));
  add('ecP384Leaf', leafOf(intermediate, { keyType: 'ec-p384' }));
  add('ed25519Leaf', leafOf(intermediate, { keyType: 'ed25519' }));
  // One leaf per key type, for tests that loop over them; not enumerable, so Object.values(pki) stays entries.
  const byKeyType = Object.freeze({ 'ec-p256': pki.leaf, 'ec-p384': pki.ecP384Leaf, get rsa() { return pki.rsaLeaf; }, ed25519: pki.ed25519Leaf });
  Object.defineProperty(pki, 'byKeyType', { value: byKeyType, enumerable: false });
  return Object.freeze(pki);
}

let cached;

/**
 * The shared test PKI. Every entry is `{ name, subject, keyType, issuer, key, keyPem, cert, pem, der, pin }`
 * (`key` a private KeyObject, `cert` an X509Certificate, `issuer` the name of the entry it names as
 * issuer, or null when self-signed). `pki.byKeyType` maps 'ec-p256' | 'ec-p384' | 'rsa' | 'ed25519' to a
 * leaf of that key type.
 */
export async function makePki() {
  cached ??= build();
  return cached;
}

/** PEM text of entries (or PEM strings) in the given order, e.g. a served chain `chainPem(leaf, intermediate)`. */
export function chainPem(...entries) {
  return entries.map((e) => (typeof e === 'string' ? e : e.pem)).map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join('');
}

/**
 * Writes `<name>.pem` (certificate) and `<name>.key` (PKCS#8 private key) for every entry into `dir`,
 * plus `<name>.chain.pem` (the certificate and the issuers it names, root excluded: what a server sends)
 * for issued certificates.
 * Returns `{ [name]: { cert, key, chain? } }` of absolute paths.
 */
export async function writePki(dir) {
  const pki = await makePki();
  await mkdir(dir, { recursive: true });
  const paths = {};
  for (const [name, e] of Object.entries(pki)) {
    const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    await writeFile(files.cert, e.pem);
    await writeFile(files.key, e.keyPem, { mode: 0o600 });
    const issuers = [];
    for (let issuer = pki[e.issuer]; issuer && issuer.issuer !== null; issuer = pki[issuer.issuer]) issuers.push(issuer);
    if (e.issuer !== null) {
      files.chain = join(dir, `${name}.chain.pem`);
      await writeFile(files.chain, chainPem(e, ...issuers));
    }
    paths[name] = files;
  }
  return paths;
}
