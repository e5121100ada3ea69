// The shipped JSON Schema (issue 14 item 1): additionalProperties false at every level, `note` and
// `^x-` annotations allowed. Checked with a validator of the keywords it uses (./json-schema.mjs,
// which refuses any other) against real documents: what certpin itself writes, the pin file of docs/policy.md,
// annotated files, and the typos of the issue; the schema and certpin's own validation must agree.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addPin, initPins, loadPolicy } from 'certpin';
import { makePki } from '../../support/pki.mjs';
import { startTlsServer } from '../../support/servers.mjs';
import { validateSchema } from './json-schema.mjs';

const SCHEMA = JSON.parse(readFileSync(new URL('../../../schema/pins.schema.json', import.meta.url), 'utf8'));
const POLICY_DOC = readFileSync(new URL('../../../docs/policy.md', import.meta.url), 'utf8');
const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-schema-'));
after(() => rmSync(dir, { recursive: true, force: true }));
// The bundle a settings.caFile below names: loadPolicy reads it.
writeFileSync(join(dir, 'root.pem'), pki.root.pem);
const HOST = 'api.example.com';
const A = pki.intermediate.pin;
const B = pki.intermediate2.pin;
const schemaErrors = (doc) => validateSchema(SCHEMA, doc);

let n = 0;
/** certpin's own verdict on a pin file: the error message, or null when it loads. */
async function certpinVerdict(doc) {
  const path = join(dir, `doc-${++n}.json`);
  writeFileSync(path, JSON.stringify(doc));
  try {
    (await loadPolicy(path)).close();
    return null;
  } catch (error) {
    assert.equal(error.code, 'ERR_CERTPIN_INVALID_CONFIG', error.message);
    return error.message;
  }
}

const base = (host = {}, top = {}) => ({ version: 1, ...top, hosts: { [HOST]: { pins: [A, { pin: B, status: 'backup' }], ...host } } });

const GOOD = {
  'minimal': base(),
  'annotated at every level': {
    $schema: './node_modules/certpin/schema/pins.schema.json',
    note: 'payments',
    'x-owner': { team: 'payments', oncall: ['a', 'b'] },
    version: 1,
    settings: { unpinned: 'deny', pinLevel: 'leaf', expireUnseenAfterDays: 30, caFile: 'root.pem', note: 'strict', 'x-reviewed': true },
    hosts: {
      [HOST]: {
        note: 'api', 'x-ticket': 'SEC-42', port: 8443, enforce: false, expires: '2027-06-30', reportUri: 'https://reports.example.net/pin',
        includeSubdomains: true, lastChecked: '2026-11-28T10:00:00.000Z',
        pins: [
          { pin: A, status: 'active', subject: 'CN=Int', firstSeen: '2026-01-01T00:00:00.000Z', lastSeen: '2026-11-28T10:00:00.000Z', 'x-seenBy': 'rotate' },
          { pin: B, status: 'backup', note: 'safe 3' },
        ],
      },
      '*.example.net': { probeHost: 'www.example.net', pins: [A, { pin: B, status: 'backup' }] },
    },
  },
};

// The typos of the issue, and other keys certpin refuses, each with the key certpin must name.
const BAD = {
  includeSubdomain: base({ includeSubdomain: true }),
  include_subdomains: base({ include_subdomains: true }),
  enforse: base({ enforse: false }),
  reportURI: base({ reportURI: 'https://reports.example.net/pin' }),
  'top-level unpinned': base({}, { unpinned: 'deny' }),
  'settings.unPinned': base({}, { settings: { unPinned: 'deny' } }),
  'a pin\'s notes': { version: 1, hosts: { [HOST]: { pins: [A, { pin: B, status: 'backup', notes: 'safe 3' }] } } },
  'a ca in the file': base({}, { ca: 'PEM' }),
  'X- in capitals is not an annotation': base({ 'X-ticket': 'SEC-42' }),
};

describe('the JSON Schema', () => {
  test('uses only keywords the checker implements, and the checker is not a yes-machine', () => {
    assert.deepEqual(schemaErrors(GOOD.minimal), []);
    assert.throws(() => validateSchema({ unevaluatedProperties: false }, {}), /does not implement "unevaluatedProperties"/);
    assert.notDeepEqual(schemaErrors({ version: 2, hosts: { [HOST]: { pins: ['sha256/abc'] } } }), []);
  });

  test('every object level refuses additional properties and allows ^x- annotations', () => {
    const levels = [SCHEMA, SCHEMA.properties.settings, SCHEMA.$defs.host, SCHEMA.$defs.pinRecord];
    for (const level of levels) {
      assert.equal(level.additionalProperties, false, level.title ?? Object.keys(level.properties).join(','));
      assert.deepEqual(Object.keys(level.patternProperties), ['^x-']);
      assert.ok(level.properties.note, 'note is an annotation at every level');
    }
  });

  for (const [name, doc] of Object.entries(GOOD)) {
    test(`accepts ${name}, as certpin does`, async () => {
      assert.deepEqual(schemaErrors(doc), []);
      assert.equal(await certpinVerdict(doc), null);
    });
  }

  for (const [name, doc] of Object.entries(BAD)) {
    test(`refuses ${name}, as certpin does`, async () => {
      const errors = schemaErrors(doc);
      assert.ok(errors.some((e) => e.includes(': not allowed')), `the schema accepted it: ${JSON.stringify(errors)}`);
      assert.notEqual(await certpinVerdict(doc), null, 'certpin accepted it');
    });
  }

  test('accepts the pin file docs/policy.md shows', () => {
    const block = /^## The pin file\n[\s\S]*?```json\n([\s\S]*?)```/m.exec(POLICY_DOC);
    assert.ok(block, 'docs/policy.md shows a pin file');
    assert.deepEqual(schemaErrors(JSON.parse(block[1])), []);
  });

  test('accepts what certpin writes: init against a real server, then add with a note', async (t) => {
    const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    t.after(() => server.close());
    const path = join(dir, 'written.json');
    const target = `api.example.test:${server.port}`;
    const { exitCode } = await initPins(path, [target], { inspect: { ca: pki.root.pem, resolve: [`${target}:127.0.0.1`] } });
    assert.equal(exitCode, 0);
    await addPin(path, 'api.example.test', B, { status: 'backup', note: 'offline key' });
    const written = JSON.parse(readFileSync(path, 'utf8'));
    assert.equal(written.hosts['api.example.test'].pins.length, 2);
    assert.deepEqual(schemaErrors(written), []);
  });
});
