// Fixtures shared by the operations tests (test/ops and test/cli): certificates the shared PKI lacks.
import { generateKeyPairSync } from 'node:crypto';
import { createCertificate } from '../../build/src/lib/x509.js';
import { makePki, SERVER_NAMES } from '../support/pki.mjs';

const DAY = 24 * 60 * 60 * 1000;
const pki = await makePki();

/** An intermediate that expires in 10 days, issuing a leaf valid for a year: the chain dies with the intermediate. */
export function shortIntermediateChain() {
  const intermediateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const intermediate = createCertificate({
    subject: 'CN=certpin Short Intermediate',
    publicKey: intermediateKey,
    issuer: { subject: pki.root.subject, privateKey: pki.root.key },
    ca: true,
    notAfter: new Date(Date.now() + 10 * DAY),
  });
  const leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const leaf = createCertificate({
    subject: 'CN=api.example.test',
    publicKey: leafKey,
    issuer: { subject: 'CN=certpin Short Intermediate', privateKey: intermediateKey },
    dnsNames: [...SERVER_NAMES.dnsNames],
    ipAddresses: [...SERVER_NAMES.ipAddresses],
    notAfter: new Date(Date.now() + 300 * DAY),
  });
  return { key: leafKey, cert: [leaf.pem, intermediate.pem], intermediate };
}

