// Export (docs/cli.md): the trusted pins in OkHttp, Android, TrustKit, Apple ATS, curl and HPKP syntax,
// checked with the real tools: javac and java for OkHttp's Java form (against a stub of
// okhttp3.CertificatePinner) and for Android's date parsing (java.text.SimpleDateFormat, as Android's
// XmlConfigSource parses pin-set expiration), xmllint for the XML, Python's plistlib for the property
// list, and curl itself connecting with the exported value.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPins } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';
import { runProgram } from '../support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-export-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const NOW = Date.parse('2026-03-01T00:00:00Z');
const b64 = (entry) => entry.pin.slice('sha256/'.length);
const HOUR = 3600_000;

/** Runs a program; one that cannot be started (not installed) fails the test. */
function run(command, args, input) {
  const result = spawnSync(command, args, { encoding: 'utf8', input });
  if (result.error) throw result.error;
  return result;
}

/** Pins as `init`/`rotate` record them (subject at the file's pinLevel) and as `certpin keygen` adds them. */
const recorded = (entry, status = 'active') => ({ pin: entry.pin, status, subject: entry.subject.replace(/,/g, ', '), firstSeen: '2026-01-01T00:00:00.000Z', lastSeen: '2026-02-01T00:00:00.000Z' });
const keygen = (entry) => ({ pin: entry.pin, status: 'backup', note: 'certpin keygen ec-p256, key backup-2026.key, 2026-02-01' });

const CONFIG = {
  version: 1,
  hosts: {
    'api.example.com': {
      expires: '2026-09-30',
      reportUri: 'https://reports.example.net/pin',
      pins: [
        { pin: pki.intermediate.pin, status: 'active' },
        { pin: pki.intermediate2.pin, status: 'backup' },
        { pin: pki.rogueRoot.pin, status: 'pending_review' },
        { pin: pki.rogueIntermediate.pin, status: 'rejected' },
      ],
    },
    '*.cdn.example.com': { pins: [pki.leaf.pin, { pin: pki.leaf2.pin, status: 'backup' }] },
    '**.static.example.com': { pins: [pki.leaf.pin, pki.root.pin] },
    'www.example.com': { includeSubdomains: true, pins: [pki.root.pin, { pin: pki.intermediate.pin, status: 'expired' }] },
    'old.example.com': { expires: '2026-01-01', pins: [pki.root.pin, pki.leaf.pin] },
  },
};

/**
 * A stand-in for okhttp3.CertificatePinner with OkHttp's own Java signatures (a nested static Builder,
 * `add(String pattern, String... pins)`, `build()`), recording the calls, so javac proves the Java
 * export compiles as pasted and java shows what it adds.
 */
const PINNER_STUB = `package okhttp3;
import java.util.ArrayList;
import java.util.List;
public final class CertificatePinner {
  public final List<String> added;
  private CertificatePinner(List<String> added) { this.added = added; }
  public static final class Builder {
    private final List<String> added = new ArrayList<>();
    public Builder add(String pattern, String... pins) { added.add(pattern + "\\t" + String.join(",", pins)); return this; }
    public CertificatePinner build() { return new CertificatePinner(added); }
  }
}
`;

/**
 * Compiles `codes` (exports, each pasted into a method body of its own) with one javac and runs them
 * with one java (a JVM start and a compile cost ~0.7 s); returns the add() calls of each, in order.
 */
function compileAndRunJava(name, codes) {
  const root = join(dir, `java-${name}`);
  mkdirSync(join(root, 'okhttp3'), { recursive: true });
  writeFileSync(join(root, 'okhttp3', 'CertificatePinner.java'), PINNER_STUB);
  writeFileSync(join(root, 'Pins.java'), `import okhttp3.CertificatePinner;
public class Pins {
${codes.map((code, i) => `  static CertificatePinner pinner${i}() {
${code}
    return certificatePinner;
  }
`).join('')}  public static void main(String[] args) {
${codes.map((_, i) => `    for (String call : pinner${i}().added) System.out.println("${i}\\t" + call);
`).join('')}  }
}
`);
  const javac = run('javac', ['-d', root, join(root, 'okhttp3', 'CertificatePinner.java'), join(root, 'Pins.java')]);
  assert.equal(javac.status, 0, `javac refused the Java export:\n${javac.stderr}\n${codes.join('\n')}`);
  const java = run('java', ['-cp', root, 'Pins']);
  assert.equal(java.status, 0, java.stderr);
  const calls = codes.map(() => []);
  for (const line of java.stdout.trim().split('\n')) {
    const [index, ...call] = line.split('\t');
    calls[Number(index)].push(call);
  }
  return calls;
}

/** Parses a property list with Python's plistlib, as Xcode tooling would read the fragment. */
function parsePlist(text) {
  const result = run('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], text);
  assert.equal(result.status, 0, `plistlib refused the property list:\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

describe('exportPins', () => {
  test('only trusted pins (active, backup) are exported, and pin sets past expires are left out', () => {
    for (const format of ['okhttp', 'android', 'trustkit', 'apple', 'curl', 'hpkp']) {
      const { text, notes } = exportPins(CONFIG, format, { now: NOW });
      assert.ok(text.includes(b64(pki.intermediate)) && text.includes(b64(pki.intermediate2)), format);
      assert.ok(!text.includes(b64(pki.rogueRoot)) && !text.includes(b64(pki.rogueIntermediate)), `${format}: untrusted pins leaked`);
      assert.ok(!text.includes('old.example.com'), format);
      assert.ok(notes.some((n) => /old\.example\.com: left out: its pins expired on 2026-01-01/.test(n)), format);
    }
  });

  test('--host selects by pattern or by a host name the entries match; no match is an error', () => {
    assert.equal(exportPins(CONFIG, 'curl', { host: 'a.cdn.example.com' }).text.split('\n')[0].split('\t')[0], '*.cdn.example.com');
    assert.throws(() => exportPins(CONFIG, 'curl', { host: 'nothing.example.org' }), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /no host entry matches/ });
    assert.throws(() => exportPins(CONFIG, 'yaml'), { name: 'TypeError', message: /okhttp, android, trustkit, apple, curl, hpkp/ });
    assert.throws(() => exportPins({ hosts: { 'x.com': { pins: ['sha256/abc'] } } }, 'curl'), { code: 'ERR_CERTPIN_INVALID_CONFIG' });
    assert.throws(() => exportPins(CONFIG, 'curl', { language: 'java' }), { name: 'TypeError', message: /okhttp format only/ });
    assert.throws(() => exportPins(CONFIG, 'okhttp', { language: 'swift' }), { name: 'TypeError', message: /kotlin, java/ });
    assert.throws(() => exportPins(CONFIG, 'okhttp', { okhttpVersion: 'latest' }), { name: 'TypeError', message: /3\.14\.9/ });
  });
});

describe('exportPins okhttp', () => {
  test('Kotlin: CertificatePinner.Builder() with the patterns as they are, stating that **. needs OkHttp 4.3.0', () => {
    const { text, notes } = exportPins(CONFIG, 'okhttp', { now: NOW });
    assert.equal(text, [
      '// certpin export: needs OkHttp 4.3.0 or later (**. patterns)',
      'val certificatePinner = CertificatePinner.Builder()',
      `    .add("api.example.com", "${pki.intermediate.pin}", "${pki.intermediate2.pin}")`,
      `    .add("*.cdn.example.com", "${pki.leaf.pin}", "${pki.leaf2.pin}")`,
      `    .add("**.static.example.com", "${pki.leaf.pin}", "${pki.root.pin}")`,
      `    .add("www.example.com", "${pki.root.pin}")`,
      `    .add("**.www.example.com", "${pki.root.pin}")`,
      '    .build()',
      '',
    ].join('\n'));
    assert.ok(notes.some((n) => /needs OkHttp 4\.3\.0 or later .*OkHttp 3\.x and 4\.0-4\.2 read "\*\*\.x" as a host name that never matches/.test(n)), notes.join('\n'));
  });

  test('without **. patterns the output names no minimum version and no note is needed', () => {
    const { text, notes } = exportPins({ hosts: { 'a.example.com': { pins: [pki.leaf.pin, pki.leaf2.pin] }, '*.b.example.com': { pins: [pki.root.pin] } } }, 'okhttp');
    assert.match(text, /^\/\/ certpin export: OkHttp CertificatePinner\nval certificatePinner/);
    assert.deepEqual(notes, []);
  });

  test('Java: compiles with javac as pasted and adds exactly the pins certpin trusts', () => {
    const { text } = exportPins(CONFIG, 'okhttp', { now: NOW, language: 'java' });
    assert.match(text, /^\/\/ certpin export: needs OkHttp 4\.3\.0 or later \(\*\*\. patterns\)\nCertificatePinner certificatePinner = new CertificatePinner\.Builder\(\)\n/);
    assert.match(text, /\n {4}\.build\(\);\n$/);
    assert.deepEqual(compileAndRunJava('modern', [text])[0], [
      ['api.example.com', `${pki.intermediate.pin},${pki.intermediate2.pin}`],
      ['*.cdn.example.com', `${pki.leaf.pin},${pki.leaf2.pin}`],
      ['**.static.example.com', `${pki.leaf.pin},${pki.root.pin}`],
      ['www.example.com', pki.root.pin],
      ['**.www.example.com', pki.root.pin],
    ]);
  });

  test('OkHttp before 4.3: exact names and *. only, naming on stderr the deeper names it cannot pin', () => {
    const versions = ['3.14.9', '4.2.2', '3'];
    const exports = versions.map((okhttpVersion) => exportPins(CONFIG, 'okhttp', { now: NOW, okhttpVersion, language: 'java' }));
    const compiled = compileAndRunJava('legacy', exports.map((e) => e.text));
    for (const [i, okhttpVersion] of versions.entries()) {
      const { text, notes } = exports[i];
      assert.ok(!text.includes('**'), `${okhttpVersion}: no **. pattern for an OkHttp that ignores it`);
      assert.match(text, new RegExp(`^// certpin export: OkHttp CertificatePinner for OkHttp ${okhttpVersion.replace(/\./g, '\\.')} \\(exact names and \\*\\. only\\)\n`));
      assert.deepEqual(compiled[i], [
        ['api.example.com', `${pki.intermediate.pin},${pki.intermediate2.pin}`],
        ['*.cdn.example.com', `${pki.leaf.pin},${pki.leaf2.pin}`],
        ['static.example.com', `${pki.leaf.pin},${pki.root.pin}`],
        ['*.static.example.com', `${pki.leaf.pin},${pki.root.pin}`],
        ['www.example.com', pki.root.pin],
        ['*.www.example.com', pki.root.pin],
      ]);
      for (const key of ['\\*\\*\\.static\\.example\\.com', 'www\\.example\\.com']) {
        assert.ok(notes.some((n) => new RegExp(`^${key}: OkHttp ${okhttpVersion.replace(/\./g, '\\.')} has no "\\*\\*\\." pattern .*two or more labels below .* stay unpinned there$`).test(n)), notes.join('\n'));
      }
      assert.ok(!notes.some((n) => /needs OkHttp 4\.3\.0/.test(n)));
    }
    assert.ok(exportPins(CONFIG, 'okhttp', { now: NOW, okhttpVersion: '4.3.0' }).text.includes('"**.static.example.com"'));
    assert.ok(exportPins(CONFIG, 'okhttp', { now: NOW, okhttpVersion: '5.0.0-alpha.14' }).text.includes('"**.static.example.com"'));
  });
});

describe('exportPins android', () => {
  test('well-formed network_security_config.xml (xmllint), *. widened with a note', () => {
    const { text, notes } = exportPins(CONFIG, 'android', { now: NOW });
    const file = join(dir, 'network_security_config.xml');
    writeFileSync(file, text);
    const lint = run('xmllint', ['--noout', file]);
    assert.equal(lint.status, 0, lint.stderr);
    const xpath = (expr) => run('xmllint', ['--xpath', expr, file]).stdout.trim();
    assert.equal(xpath('count(//domain-config[domain="api.example.com"]/pin-set/pin[@digest="SHA-256"])'), '2');
    assert.equal(xpath('string(//domain[.="cdn.example.com"]/@includeSubdomains)'), 'true');
    assert.equal(xpath('string(//domain[.="api.example.com"]/@includeSubdomains)'), 'false');
    assert.equal(xpath('string(//domain[.="www.example.com"]/@includeSubdomains)'), 'true');
    assert.ok(notes.some((n) => /\*\.cdn\.example\.com: Android cannot say "exactly one label": widened to cdn\.example\.com/.test(n)), notes.join('\n'));
  });

  test('x and a widened *.x share one domain-config, with the union of their pins', () => {
    const { text, notes } = exportPins({ hosts: { 'example.com': { pins: [pki.root.pin] }, '*.example.com': { pins: [pki.leaf.pin] } } }, 'android');
    assert.equal(text.match(/<domain /g).length, 1);
    assert.ok(text.includes(b64(pki.root)) && text.includes(b64(pki.leaf)));
    assert.ok(notes.some((n) => /merged/.test(n)));
  });

  test('expires: exported two days on, so pins hold until certpin\'s end of the day UTC in every time zone (checked with SimpleDateFormat)', () => {
    const { text, notes } = exportPins(CONFIG, 'android', { now: NOW, host: 'api.example.com' });
    assert.match(text, /<pin-set expiration="2026-10-02">/);
    assert.ok(notes.includes('api.example.com: Android ends a pin-set at 00:00 device-local time of its expiration date: exported expiration="2026-10-02" so the pins hold at least until certpin\'s end (the end of 2026-09-30 UTC) in every time zone from UTC-12 to UTC+14; Android then enforces them 10 to 36 hours longer than certpin, depending on the device\'s time zone'), notes.join('\n'));
    // Android's XmlConfigSource: new SimpleDateFormat("yyyy-MM-dd").parse(expiration) in the device's
    // zone; pins are enforced while now <= that instant. Parse it in every zone the JDK knows.
    const root = join(dir, 'java-android-date');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'Zones.java'), `import java.text.SimpleDateFormat;
import java.util.TimeZone;
public class Zones {
  public static void main(String[] args) throws Exception {
    long end = Long.parseLong(args[0]);
    for (int d = 1; d < args.length; d++) {
      int earlier = 0;
      long least = Long.MAX_VALUE, most = Long.MIN_VALUE;
      String[] ids = TimeZone.getAvailableIDs();
      for (String id : ids) {
        SimpleDateFormat sdf = new SimpleDateFormat("yyyy-MM-dd");
        sdf.setLenient(false);
        sdf.setTimeZone(TimeZone.getTimeZone(id));
        long stops = sdf.parse(args[d]).getTime();
        if (stops < end) earlier++;
        least = Math.min(least, stops - end);
        most = Math.max(most, stops - end);
      }
      System.out.println(ids.length + " " + earlier + " " + least + " " + most);
    }
  }
}
`);
    const javac = run('javac', ['-d', root, join(root, 'Zones.java')]);
    assert.equal(javac.status, 0, javac.stderr);
    const certpinEnd = String(Date.parse('2026-09-30T23:59:59.999Z'));
    // One JVM for the three dates: per date, the zone count, how many stop early, least and most extra.
    const java = run('java', ['-cp', root, 'Zones', certpinEnd, '2026-10-02', '2026-09-30', '2026-10-01']);
    assert.equal(java.status, 0, java.stderr);
    const [exported, asWritten, dayAfter] = java.stdout.trim().split('\n').map((line) => line.split(' ').map(Number));
    const [count, earlier, least, most] = exported;
    assert.ok(count > 400, `the JDK knows ${count} zones`);
    assert.equal(earlier, 0, 'in no time zone does Android stop before certpin');
    assert.ok(least >= 0 && least <= 10 * HOUR + 1 && most <= 36 * HOUR + 1, `${least} ${most}`);
    // The date as written (and the day after) would stop pinning early in many zones: the bug fixed here.
    assert.ok(asWritten[1] === count);
    assert.ok(dayAfter[1] > 0);
  });

  test('a date-time expires is rounded up the same way', () => {
    const config = { hosts: { 'a.example.com': { expires: '2026-09-30T09:00:00Z', pins: [pki.leaf.pin, pki.leaf2.pin] } } };
    const { text, notes } = exportPins(config, 'android', { now: NOW });
    // 09:00Z + 14 h = 23:00Z, so the next UTC midnight is 2026-10-01: at UTC+14 that is 10:00Z on 09-30.
    assert.match(text, /expiration="2026-10-01"/);
    assert.ok(notes.some((n) => /certpin's end \(2026-09-30T09:00:00\.000Z\).* 1 to 27 hours longer/.test(n)), notes.join('\n'));
  });
});

describe('exportPins trustkit', () => {
  test('a Swift dictionary with the kTSK keys, the vendor report server disabled, expiry on the next day', () => {
    const { text, notes } = exportPins(CONFIG, 'trustkit', { now: NOW, host: 'api.example.com' });
    assert.equal(text, [
      'let trustKitConfig: [String: Any] = [',
      '    kTSKSwizzleNetworkDelegates: false,',
      '    kTSKPinnedDomains: [',
      '        "api.example.com": [',
      '            kTSKEnforcePinning: true,',
      '            kTSKIncludeSubdomains: false,',
      '            kTSKExpirationDate: "2026-10-01",',
      '            kTSKDisableDefaultReportUri: true,',
      '            kTSKReportUris: ["https://reports.example.net/pin"],',
      '            kTSKPublicKeyHashes: [',
      `                "${b64(pki.intermediate)}",`,
      `                "${b64(pki.intermediate2)}",`,
      '            ],',
      '        ],',
      '    ],',
      ']',
      '',
    ].join('\n'));
    // TrustKit parses kTSKExpirationDate at 00:00 UTC and disables pins once that moment has passed.
    assert.ok(Date.parse('2026-10-01T00:00:00Z') >= Date.parse('2026-09-30T23:59:59.999Z'));
    assert.deepEqual(notes, ['api.example.com: TrustKit ends pins at 00:00 UTC of kTSKExpirationDate: exported "2026-10-01" so they hold until certpin\'s end (the end of 2026-09-30 UTC)']);
  });

  test('two pins are needed only when enforcing (TrustKit\'s own rule); IP addresses are left out with a note', () => {
    const config = {
      hosts: {
        'enforced.example.com': { pins: [pki.leaf.pin] },
        'report-only.example.com': { enforce: false, pins: [pki.leaf.pin] },
        '192.0.2.7': { pins: [pki.leaf.pin, pki.leaf2.pin] },
        '2001:db8::7': { pins: [pki.leaf.pin, pki.leaf2.pin] },
      },
    };
    const { text, notes } = exportPins(config, 'trustkit');
    assert.ok(notes.includes('enforced.example.com: TrustKit refuses an enforced domain with fewer than two pins: add a backup pin (certpin keygen)'), notes.join('\n'));
    assert.ok(!notes.some((n) => n.startsWith('report-only.example.com')), notes.join('\n'));
    assert.match(text, /"report-only\.example\.com": \[\n {12}kTSKEnforcePinning: false,/);
    assert.ok(!text.includes('192.0.2.7') && !text.includes('2001:db8'));
    assert.ok(notes.includes('192.0.2.7: left out: TrustKit refuses an IP address as a pinned domain'));
    assert.ok(notes.includes('2001:db8::7: left out: TrustKit refuses an IP address as a pinned domain'));
    assert.equal(text.match(/kTSKDisableDefaultReportUri: true,/g).length, 2);
  });
});

describe('exportPins apple', () => {
  const config = {
    version: 1,
    settings: { pinLevel: 'intermediate' },
    hosts: {
      // as init records it at pinLevel intermediate, with a keygen backup key for the server
      'api.example.com': { pins: [recorded(pki.intermediate), keygen(pki.leaf2)] },
      // only CA pins: NSPinnedCAIdentities
      '**.static.example.com': { pins: [recorded(pki.intermediate), recorded(pki.intermediate2, 'backup')] },
      // only keygen keys: NSPinnedLeafIdentities
      '*.cdn.example.com': { pins: [{ ...keygen(pki.leaf), status: 'active' }, keygen(pki.leaf2)] },
      // bare pins: which certificate is unknown, taken as settings.pinLevel says
      'bare.example.com': { expires: '2026-09-30', pins: [pki.root.pin, pki.intermediate2.pin] },
      'report-only.example.com': { enforce: false, pins: [pki.root.pin, pki.intermediate.pin] },
      '192.0.2.7': { pins: [pki.leaf.pin, pki.leaf2.pin] },
      'printer.local': { pins: [pki.leaf.pin, pki.leaf2.pin] },
    },
  };

  test('NSPinnedDomains parses with plistlib and xmllint, each pin under the list of its certificate', () => {
    const { text, notes } = exportPins(config, 'apple', { now: NOW });
    const file = join(dir, 'ats.plist');
    writeFileSync(file, text);
    const lint = run('xmllint', ['--noout', '--nonet', file]);
    assert.equal(lint.status, 0, lint.stderr);
    const plist = parsePlist(text);
    assert.deepEqual(Object.keys(plist), ['NSAppTransportSecurity']);
    const domains = plist.NSAppTransportSecurity.NSPinnedDomains;
    const ids = (list) => list.map((d) => { assert.deepEqual(Object.keys(d), ['SPKI-SHA256-BASE64']); return d['SPKI-SHA256-BASE64']; });
    assert.deepEqual(Object.keys(domains).sort(), ['api.example.com', 'bare.example.com', 'cdn.example.com', 'static.example.com']);
    // A CA pin beside a leaf backup key: ATS would require both to match, so only the CA list is written.
    assert.deepEqual(domains['api.example.com'], { NSIncludesSubdomains: false, NSPinnedCAIdentities: [{ 'SPKI-SHA256-BASE64': b64(pki.intermediate) }] });
    assert.deepEqual(ids(domains['static.example.com'].NSPinnedCAIdentities), [b64(pki.intermediate), b64(pki.intermediate2)]);
    assert.equal(domains['static.example.com'].NSIncludesSubdomains, true);
    assert.deepEqual(domains['cdn.example.com'], { NSIncludesSubdomains: true, NSPinnedLeafIdentities: [{ 'SPKI-SHA256-BASE64': b64(pki.leaf) }, { 'SPKI-SHA256-BASE64': b64(pki.leaf2) }] });
    assert.deepEqual(ids(domains['bare.example.com'].NSPinnedCAIdentities), [b64(pki.root), b64(pki.intermediate2)]);

    const says = (pattern) => assert.ok(notes.some((n) => pattern.test(n)), `${pattern}\n${notes.join('\n')}`);
    says(/^api\.example\.com: App Transport Security requires a match in both NSPinnedCAIdentities and NSPinnedLeafIdentities when both are given, stricter than certpin's any one trusted pin: only the CA pins are exported; left out: sha256\/\S+ \(a key made by certpin keygen/);
    says(/^\*\.cdn\.example\.com: App Transport Security cannot say "exactly one label": pinned as cdn\.example\.com with NSIncludesSubdomains, which also pins cdn\.example\.com itself$/);
    says(/^\*\*\.static\.example\.com: App Transport Security's NSIncludesSubdomains is documented to reach names one label below static\.example\.com only: .*deeper names \(a\.b\.static\.example\.com\) cannot be expressed/);
    says(new RegExp(`^bare\\.example\\.com: ${pki.root.pin.replace(/[+/]/g, '\\$&')}, ${pki.intermediate2.pin.replace(/[+/]/g, '\\$&')}: the pin file does not record which certificate they are the keys of: exported as CA identities, after settings\\.pinLevel "intermediate"$`));
    says(/^bare\.example\.com: App Transport Security has no pin expiry/);
    says(/^report-only\.example\.com: left out: it is report-only/);
    says(/^192\.0\.2\.7: left out: App Transport Security does not apply to IP addresses/);
    says(/^printer\.local: left out: App Transport Security does not apply to IP addresses, unqualified or \.local names/);
  });

  test('at pinLevel leaf, recorded pins are leaf identities; active leaf pins beside a CA backup keep the leaf list', () => {
    const leafConfig = { settings: { pinLevel: 'leaf' }, hosts: { 'api.example.com': { pins: [recorded(pki.leaf), recorded(pki.leaf2, 'backup')] } } };
    const domains = parsePlist(exportPins(leafConfig, 'apple').text).NSAppTransportSecurity.NSPinnedDomains;
    assert.deepEqual(Object.keys(domains['api.example.com']), ['NSIncludesSubdomains', 'NSPinnedLeafIdentities']);
    const mixed = { settings: { pinLevel: 'leaf' }, hosts: { 'api.example.com': { pins: [recorded(pki.leaf)] }, '*.api.example.com': { pins: [{ pin: pki.intermediate.pin, status: 'backup', subject: 'x' }] } } };
    // Both recorded at pinLevel leaf: leaf identities, merged into one domain.
    const merged = exportPins(mixed, 'apple');
    assert.deepEqual(parsePlist(merged.text).NSAppTransportSecurity.NSPinnedDomains['api.example.com'].NSPinnedLeafIdentities.length, 2);
  });
});

describe('exportPins hpkp', () => {
  test('the Public-Key-Pins value, max-age from expires, includeSubdomains, report-uri', () => {
    const { text, notes } = exportPins(CONFIG, 'hpkp', { now: NOW });
    const lines = Object.fromEntries(text.trim().split('\n').map((l) => l.split('\t')));
    const maxAge = (Date.parse('2026-09-30T23:59:59.999Z') - NOW) / 1000;
    assert.equal(lines['api.example.com'], `pin-sha256="${b64(pki.intermediate)}"; pin-sha256="${b64(pki.intermediate2)}"; max-age=${Math.floor(maxAge)}; report-uri="https://reports.example.net/pin"`);
    assert.equal(lines['cdn.example.com'], `pin-sha256="${b64(pki.leaf)}"; pin-sha256="${b64(pki.leaf2)}"; max-age=5184000; includeSubdomains`);
    assert.ok(notes.some((n) => /\*\.cdn\.example\.com: HPKP cannot say "exactly one label"/.test(n)));
    assert.ok(notes.some((n) => /www\.example\.com: RFC 7469 requires a backup pin/.test(n)));
  });
});

describe('exportPins curl', () => {
  test('the exported --pinnedpubkey value lets real curl connect, and a wrong one fails', async (t) => {
    const server = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] }, (_req, res) => res.end('pinned hello'));
    t.after(() => server.close());
    const config = { hosts: { 'api.example.test': { pins: [pki.leaf.pin, { pin: pki.leaf2.pin, status: 'backup' }] }, 'other.example.test': { pins: [pki.rogueLeaf.pin] } } };
    const { text, notes } = exportPins(config, 'curl');
    assert.ok(notes.some((n) => /curl --pinnedpubkey checks only the server's own \(leaf\) key/.test(n)));
    assert.ok(notes.includes(`api.example.test: kept ${pki.leaf.pin}, ${pki.leaf2.pin}: the pin file does not record which certificate they are the keys of; curl matches only the server's own key`), notes.join('\n'));
    const values = Object.fromEntries(text.trim().split('\n').map((l) => l.split('\t')));
    assert.equal(values['api.example.test'], `sha256//${b64(pki.leaf)};sha256//${b64(pki.leaf2)}`);
    const rootFile = join(dir, 'root.pem');
    writeFileSync(rootFile, pki.root.pem);
    // curl runs asynchronously: the server lives in this process and must keep answering.
    const curl = (pinned) => runProgram('curl', ['-sS', '--max-time', '10', '--cacert', rootFile, '--resolve', `api.example.test:${server.port}:127.0.0.1`, '--pinnedpubkey', pinned, `https://api.example.test:${server.port}/`]);
    const good = await curl(values['api.example.test']);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, 'pinned hello');
    const bad = await curl(values['other.example.test']);
    assert.equal(bad.code, 90, `curl exits 90 (CURLE_SSL_PINNEDPUBKEYNOTMATCH) on a wrong pin: ${bad.stderr}`);
    assert.equal(server.requests.length, 1, 'the mismatched connection sent no request');
  });

  test('only pins curl can match: the intermediate init recorded is left out with a note, and curl proves it could never match', async (t) => {
    const server = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] }, (_req, res) => res.end('pinned hello'));
    t.after(() => server.close());
    const config = {
      settings: { pinLevel: 'intermediate' },
      hosts: {
        'api.example.test': { pins: [recorded(pki.intermediate), keygen(pki.leaf)] },
        'ca-only.example.test': { pins: [recorded(pki.intermediate), recorded(pki.intermediate2, 'backup')] },
      },
    };
    const { text, notes } = exportPins(config, 'curl');
    assert.equal(text, `api.example.test\tsha256//${b64(pki.leaf)}\n`);
    assert.ok(notes.includes(`api.example.test: left out ${pki.intermediate.pin}: recorded at pinLevel intermediate (CN=certpin Test Intermediate), the key of a CA, which curl never matches`), notes.join('\n'));
    assert.ok(notes.includes('ca-only.example.test: left out: none of its pins is the key of the server\'s own certificate, so curl could never connect with them'), notes.join('\n'));
    const rootFile = join(dir, 'root-2.pem');
    writeFileSync(rootFile, pki.root.pem);
    const curl = (pinned) => runProgram('curl', ['-sS', '--max-time', '10', '--cacert', rootFile, '--resolve', `api.example.test:${server.port}:127.0.0.1`, '--pinnedpubkey', pinned, `https://api.example.test:${server.port}/`]);
    const exported = await curl(text.trim().split('\t')[1]);
    assert.deepEqual([exported.code, exported.stdout], [0, 'pinned hello'], exported.stderr);
    // The intermediate is in the chain curl verified, yet --pinnedpubkey never matches it.
    const intermediate = await curl(`sha256//${b64(pki.intermediate)}`);
    assert.equal(intermediate.code, 90, intermediate.stderr);
  });
});
