// SPEC section 1: what a pin is, where it can be computed from, and how pins are parsed. The reference
// values come from real openssl, run the way its documentation (and curl's, OkHttp's) tells users to,
// so certpin is checked against the tool users will compare it with.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, createSecretKey, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { spkiPin, parsePin } from 'certpin';
import { createCsr } from '../../build/src/lib/x509.js';
import { chainPem, makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';

const pki = await makePki();
const workDir = mkdtempSync(join(tmpdir(), 'certpin-pin-test-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

/** SHA-256 of nothing: what a broken pipeline (openssl missing, a stage failing) would print. */
const EMPTY_SHA256 = createHash('sha256').digest('base64');

/** Runs a program; a program that cannot be started (openssl not installed) fails the test. */
function run(command, args, { cwd = workDir, input } = {}) {
  const result = spawnSync(command, args, { cwd, input, maxBuffer: 16 * 1024 * 1024 });
  if (result.error) throw result.error;
  return result;
}

/** openssl with arguments; returns stdout and fails the test on a non-zero exit. */
function openssl(args, options) {
  const result = run('openssl', args, options);
  assert.equal(result.status, 0, `openssl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** A shell pipeline ending in `| base64`, read as a pin. dash has no pipefail, so guard the output. */
function pipelinePin(pipeline, cwd) {
  assert.match(openssl(['version']).toString(), /^OpenSSL /);
  const result = run('sh', ['-c', pipeline], { cwd });
  const b64 = result.stdout.toString().trim();
  assert.match(b64, /^[A-Za-z0-9+/]{43}=$/, `${pipeline} printed ${JSON.stringify(b64)}: ${result.stderr}`);
  assert.notEqual(b64, EMPTY_SHA256, `${pipeline} hashed nothing: ${result.stderr}`);
  return `sha256/${b64}`;
}

const DGST = 'openssl dgst -sha256 -binary | base64';
const opensslCertPin = (cwd, cert) => pipelinePin(`openssl x509 -pubkey -noout -in ${cert} | openssl pkey -pubin -outform DER | ${DGST}`, cwd);
const opensslKeyPin = (cwd, key) => pipelinePin(`openssl pkey -in ${key} -pubout -outform DER | ${DGST}`, cwd);
const opensslCsrPin = (cwd, csr) => pipelinePin(`openssl req -in ${csr} -pubkey -noout | openssl pkey -pubin -outform DER | ${DGST}`, cwd);

function assertPemLabel(pem, label) {
  assert.match(pem.toString(), new RegExp(`^-----BEGIN ${label}-----$`, 'm'), `expected a ${label} block`);
}

function assertQuoted(message, input) {
  const quoted = [JSON.stringify(input), `"${input}"`, `'${input}'`, `\`${input}\``];
  assert.ok(quoted.some((q) => message.includes(q)), `the message does not quote ${JSON.stringify(input)}: ${message}`);
}

const KEY_TYPES = [
  ['RSA 2048', 'rsa', pki.rsaLeaf],
  ['EC P-256', 'ec', pki.leaf],
  ['EC P-384', 'ec', pki.ecP384Leaf],
  ['Ed25519', 'ed25519', pki.ed25519Leaf],
];

for (const [label, family, entry] of KEY_TYPES) {
  describe(`pins of a ${label} key`, () => {
    const dir = join(workDir, entry.name);
    let expected;
    before(() => {
      mkdirSync(dir);
      writeFileSync(join(dir, 'cert.pem'), entry.pem);
      writeFileSync(join(dir, 'key.pem'), entry.keyPem);
      expected = opensslCertPin(dir, 'cert.pem');
    });
    const convert = (args) => openssl(args, { cwd: dir });

    test('the certificate pin equals the one openssl computes', () => {
      assert.equal(spkiPin(entry.pem), expected);
      assert.equal(entry.pin, expected, 'the test PKI computes pins like openssl');
      assert.equal(opensslKeyPin(dir, 'key.pem'), expected, 'openssl agrees the certificate is for this key');
    });

    test('certificates as PEM, DER, X509Certificate, Buffer and Uint8Array', () => {
      const der = convert(['x509', '-in', 'cert.pem', '-outform', 'DER']);
      assert.deepEqual(der, entry.der);
      assert.equal(spkiPin(der), expected);
      assert.equal(spkiPin(new Uint8Array(der)), expected);
      const offset = Buffer.concat([Buffer.from('unrelated leading bytes'), der]).subarray(23);
      assert.equal(spkiPin(offset), expected, 'a view into a larger buffer is read from its own offset');
      assert.equal(spkiPin(Buffer.from(entry.pem)), expected);
      assert.equal(spkiPin(entry.cert), expected);
      assert.equal(spkiPin(new X509Certificate(entry.pem)), expected);
    });

    test('public keys as SPKI PEM and DER', () => {
      const pem = convert(['pkey', '-in', 'key.pem', '-pubout']);
      assertPemLabel(pem, 'PUBLIC KEY');
      assert.equal(spkiPin(pem.toString()), expected);
      assert.equal(spkiPin(pem), expected);
      assert.equal(spkiPin(convert(['pkey', '-in', 'key.pem', '-pubout', '-outform', 'DER'])), expected);
    });

    if (family === 'rsa') {
      test('RSA public keys as PKCS#1 PEM and DER', () => {
        const pem = convert(['rsa', '-in', 'key.pem', '-RSAPublicKey_out']);
        assertPemLabel(pem, 'RSA PUBLIC KEY');
        assert.equal(spkiPin(pem.toString()), expected);
        assert.equal(spkiPin(convert(['rsa', '-in', 'key.pem', '-RSAPublicKey_out', '-outform', 'DER'])), expected);
      });
    }

    test('private keys as PKCS#8 PEM and DER', () => {
      const pem = convert(['pkcs8', '-topk8', '-nocrypt', '-in', 'key.pem']);
      assertPemLabel(pem, 'PRIVATE KEY');
      assert.equal(spkiPin(pem.toString()), expected);
      assert.equal(spkiPin(convert(['pkcs8', '-topk8', '-nocrypt', '-in', 'key.pem', '-outform', 'DER'])), expected);
    });

    if (family === 'rsa') {
      test('RSA private keys as PKCS#1 PEM and DER', () => {
        const pem = convert(['rsa', '-in', 'key.pem', '-traditional']);
        assertPemLabel(pem, 'RSA PRIVATE KEY');
        assert.equal(spkiPin(pem.toString()), expected);
        const der = convert(['rsa', '-in', 'key.pem', '-traditional', '-outform', 'DER']);
        assert.notDeepEqual(der, convert(['pkcs8', '-topk8', '-nocrypt', '-in', 'key.pem', '-outform', 'DER']));
        assert.equal(spkiPin(der), expected);
      });
    }

    if (family === 'ec') {
      test('EC private keys as SEC1 PEM and DER', () => {
        const pem = convert(['ec', '-in', 'key.pem']);
        assertPemLabel(pem, 'EC PRIVATE KEY');
        assert.equal(spkiPin(pem.toString()), expected);
        const der = convert(['ec', '-in', 'key.pem', '-outform', 'DER']);
        assert.notDeepEqual(der, convert(['pkcs8', '-topk8', '-nocrypt', '-in', 'key.pem', '-outform', 'DER']));
        assert.equal(spkiPin(der), expected);
      });
    }

    test('CSRs made by openssl req, PEM and DER', () => {
      convert(['req', '-new', '-key', 'key.pem', '-subj', '/CN=api.example.test/O=certpin tests', '-out', 'openssl.csr']);
      const pem = readFileSync(join(dir, 'openssl.csr'), 'utf8');
      assertPemLabel(pem, 'CERTIFICATE REQUEST');
      assert.equal(opensslCsrPin(dir, 'openssl.csr'), expected);
      assert.equal(spkiPin(pem), expected);
      assert.equal(spkiPin(convert(['req', '-in', 'openssl.csr', '-outform', 'DER'])), expected);
    });

    test('CSRs made by createCsr, PEM and DER', () => {
      const pem = createCsr('CN=api.example.test,O=certpin tests', entry.key);
      writeFileSync(join(dir, 'certpin.csr'), pem);
      assert.equal(opensslCsrPin(dir, 'certpin.csr'), expected);
      assert.equal(spkiPin(pem), expected);
      assert.equal(spkiPin(convert(['req', '-in', 'certpin.csr', '-outform', 'DER'])), expected);
    });

    test('KeyObjects, private and public', () => {
      assert.equal(entry.key.type, 'private');
      assert.equal(spkiPin(entry.key), expected);
      assert.equal(spkiPin(createPublicKey(entry.key)), expected);
      assert.equal(spkiPin(entry.cert.publicKey), expected);
    });
  });
}

describe('pins of bundles and other real-world files', () => {
  test('a bundle counts its first certificate', () => {
    assert.equal(spkiPin(chainPem(pki.leaf, pki.intermediate, pki.root)), pki.leaf.pin);
    assert.equal(spkiPin(chainPem(pki.intermediate, pki.leaf)), pki.intermediate.pin);
    assert.equal(spkiPin(Buffer.from(chainPem(pki.rsaLeaf, pki.intermediate))), pki.rsaLeaf.pin);
  });

  test('a certificate after the text openssl x509 -text prints before it', () => {
    writeFileSync(join(workDir, 'text-leaf.pem'), pki.leaf.pem);
    const withText = openssl(['x509', '-in', 'text-leaf.pem', '-text']).toString();
    assert.match(withText, /^Certificate:/);
    assert.equal(spkiPin(withText), pki.leaf.pin);
  });

  test('an EC key from openssl ecparam -genkey, with its EC PARAMETERS block first', () => {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-out', 'ecparam.pem']);
    const pem = readFileSync(join(workDir, 'ecparam.pem'), 'utf8');
    assert.ok(pem.indexOf('BEGIN EC PARAMETERS') < pem.indexOf('BEGIN EC PRIVATE KEY'));
    assert.equal(spkiPin(pem), opensslKeyPin(workDir, 'ecparam.pem'));
  });

  test('a pin is not a hash of the whole certificate', () => {
    const certificateHash = `sha256/${createHash('sha256').update(pki.leaf.der).digest('base64')}`;
    assert.notEqual(spkiPin(pki.leaf.cert), certificateHash);
  });

  test("an EC certificate's pin is not the hash of the raw point in getPeerCertificate().pubkey", async (t) => {
    const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate], onConnection: (socket) => socket.end() });
    t.after(() => server.close());
    const peer = await new Promise((resolve, reject) => {
      const socket = connect({ host: server.host, port: server.port, servername: 'localhost', ca: pki.root.pem }, () => {
        resolve(socket.getPeerCertificate());
        socket.destroy();
      });
      socket.on('error', reject);
    });
    const { x, y } = pki.leaf.cert.publicKey.export({ format: 'jwk' });
    const rawPoint = Buffer.concat([Buffer.of(0x04), Buffer.from(x, 'base64url'), Buffer.from(y, 'base64url')]);
    assert.deepEqual(peer.pubkey, rawPoint, 'Node gives the uncompressed EC point, not the SPKI');
    assert.notEqual(spkiPin(pki.leaf.cert), `sha256/${createHash('sha256').update(peer.pubkey).digest('base64')}`);
    assert.equal(spkiPin(peer.raw), pki.leaf.pin);
    assert.equal(spkiPin(new X509Certificate(peer.raw)), pki.leaf.pin);
  });
});

describe('spkiPin refuses what it cannot read', () => {
  const invalidInput = { code: 'ERR_CERTPIN_INVALID_INPUT', name: 'CertpinError' };
  const pem = pki.leaf.pem;
  const lines = pem.trim().split('\n');
  const bodyCut = [...lines.slice(0, 4), ...lines.slice(-3)].join('\n');
  const randomDer = Buffer.concat(Array.from({ length: 4 }, (_, i) => createHash('sha256').update(`random ${i}`).digest()));
  const cases = [
    ['garbage text', 'this is not a certificate'],
    ['garbage bytes', Buffer.from('garbage that is not DER')],
    ['a PEM cut in the middle (no END line)', pem.slice(0, Math.floor(pem.length / 2))],
    ['a PEM whose body lost its middle lines', bodyCut],
    ['a PEM block of garbage base64', '-----BEGIN CERTIFICATE-----\n!!this is *not* base64!!\n-----END CERTIFICATE-----\n'],
    ['a PEM block of valid base64 over random bytes', `-----BEGIN CERTIFICATE-----\n${randomDer.toString('base64')}\n-----END CERTIFICATE-----\n`],
    ['an empty PEM block', '-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n'],
    ['random DER bytes', randomDer],
    ['a truncated DER certificate', pki.leaf.der.subarray(0, 200)],
    ['an empty string', ''],
    ['an empty buffer', Buffer.alloc(0)],
    ['an empty Uint8Array', new Uint8Array(0)],
  ];
  for (const [what, input] of cases) {
    test(what, () => {
      assert.throws(() => spkiPin(input), invalidInput);
    });
  }

  test('encrypted private keys (PKCS#8 PEM and DER, traditional RSA and EC PEM)', () => {
    writeFileSync(join(workDir, 'rsa.key'), pki.rsaLeaf.keyPem);
    writeFileSync(join(workDir, 'ec.key'), pki.leaf.keyPem);
    const pass = ['-passout', 'pass:certpin'];
    const encrypted = [
      ['PKCS#8 PEM', openssl(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', 'ec.key', ...pass]), 'ENCRYPTED PRIVATE KEY'],
      ['PKCS#8 DER', openssl(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', 'ec.key', '-outform', 'DER', ...pass])],
      ['traditional RSA PEM', openssl(['rsa', '-in', 'rsa.key', '-traditional', '-aes256', ...pass]), 'RSA PRIVATE KEY'],
      ['traditional EC PEM', openssl(['ec', '-in', 'ec.key', '-aes256', ...pass]), 'EC PRIVATE KEY'],
    ];
    for (const [what, bytes, label] of encrypted) {
      if (label) assertPemLabel(bytes, label);
      if (label && label !== 'ENCRYPTED PRIVATE KEY') assert.match(bytes.toString(), /Proc-Type: 4,ENCRYPTED/);
      assert.throws(() => spkiPin(bytes), invalidInput, what);
      if (label) assert.throws(() => spkiPin(bytes.toString()), (err) => err.code === 'ERR_CERTPIN_INVALID_INPUT' && /encrypted/i.test(err.message), what);
    }
  });

  test('a secret key has no public key', () => {
    assert.throws(() => spkiPin(createSecretKey(Buffer.alloc(32, 1))), invalidInput);
  });

  test('arguments of the wrong type are a TypeError', () => {
    for (const input of [undefined, null, 42, {}, [pki.leaf.pem]]) {
      assert.throws(() => spkiPin(input), TypeError);
    }
  });
});

describe('parsePin', () => {
  const b64 = pki.leaf.pin.slice('sha256/'.length);
  const expected = pki.leaf.pin;

  test('the OkHttp, curl and HPKP spellings normalise to sha256/B64', () => {
    assert.equal(parsePin(`sha256/${b64}`), expected);
    assert.equal(parsePin(`sha256//${b64}`), expected);
    assert.equal(parsePin(`pin-sha256="${b64}"`), expected);
  });

  test('a pin whose base64 starts with "/" (1 key in 64) parses in every spelling', () => {
    const slashed = Buffer.alloc(32, 0xfc).toString('base64');
    assert.ok(slashed.startsWith('/'));
    assert.equal(parsePin(`sha256/${slashed}`), `sha256/${slashed}`, 'the OkHttp spelling is not mistaken for curl\'s');
    assert.equal(parsePin(`sha256//${slashed}`), `sha256/${slashed}`);
    assert.equal(parsePin(`pin-sha256="${slashed}"`), `sha256/${slashed}`);
  });

  test('openssl output, written the curl way, parses to the pin certpin computes', () => {
    writeFileSync(join(workDir, 'parse-leaf.pem'), pki.rsaLeaf.pem);
    const openSslPin = opensslCertPin(workDir, 'parse-leaf.pem');
    assert.equal(parsePin(`sha256//${openSslPin.slice(7)}`), spkiPin(pki.rsaLeaf.pem));
  });

  test('every pin spkiPin makes parses to itself', () => {
    for (const entry of Object.values(pki)) assert.equal(parsePin(spkiPin(entry.cert)), entry.pin);
  });

  const b64Of = (bytes) => Buffer.alloc(bytes, 0xa7).toString('base64');
  const invalidPins = [
    ['a SHA-1 pin', `sha1/${b64Of(20)}`],
    ['a SHA-1 pin that has the length of a SHA-256 one', `sha1/${b64}`],
    ['an HPKP SHA-1 pin', `pin-sha1="${b64Of(20)}"`],
    ['31 bytes', `sha256/${b64Of(31)}`],
    ['33 bytes', `sha256/${b64Of(33)}`],
    ['31 bytes, curl spelling', `sha256//${b64Of(31)}`],
    ['33 bytes, HPKP spelling', `pin-sha256="${b64Of(33)}"`],
    ['base64url instead of base64', `sha256/${Buffer.alloc(32, 0xfb).toString('base64url')}=`],
    ['a character outside base64', `sha256/${b64.slice(0, 20)}!${b64.slice(21)}`],
    ['hex instead of base64', `sha256/${createHash('sha256').update('x').digest('hex')}`],
    ['an empty string', ''],
    ['a prefix with nothing after it', 'sha256/'],
    ['an empty HPKP value', 'pin-sha256=""'],
    ['no prefix', b64],
    ['an unknown algorithm', `sha512/${b64}`],
  ];
  for (const [what, input] of invalidPins) {
    test(`refuses ${what}, quoting it`, () => {
      assert.throws(() => parsePin(input), (err) => {
        assert.equal(err.code, 'ERR_CERTPIN_INVALID_PIN');
        assert.equal(err.name, 'CertpinError');
        assertQuoted(err.message, input);
        return true;
      });
    });
  }

  // The canonical form takes a fast path (no Buffer round trip); it must accept and refuse exactly
  // what decoding does: 43 digits carry 258 bits, so only a last digit with its low 2 bits zero is 32 bytes.
  test('the canonical form accepts exactly the values that decode to 32 bytes and encode back', () => {
    const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const body = b64.slice(0, 42);
    for (const last of digits) {
      const value = `${body}${last}=`;
      const canonical = Buffer.from(value, 'base64').toString('base64') === value;
      assert.equal(canonical, digits.indexOf(last) % 4 === 0, last);
      for (const input of [`sha256/${value}`, ` sha256/${value}\n`, `sha256//${value}`]) {
        if (canonical) {
          assert.equal(parsePin(input), `sha256/${value}`, JSON.stringify(input));
        } else {
          assert.throws(() => parsePin(input), (err) => {
            assert.equal(err.code, 'ERR_CERTPIN_INVALID_PIN');
            assert.equal(err.message, `not a SHA-256 pin: ${JSON.stringify(input)} (decodes to 32 bytes, a SHA-256 pin has 32)`);
            return true;
          });
        }
      }
    }
  });

  test('a non-string is a TypeError', () => {
    for (const input of [undefined, null, 42, Buffer.from(expected)]) {
      assert.throws(() => parsePin(input), TypeError);
    }
  });
});
