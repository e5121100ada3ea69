import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addPin, approvePin, readPinFile, updatePinFile } from 'certpin';

const storeModule = fileURLToPath(new URL('../../build/src/pinfile/store.js', import.meta.url));
const randomPin = () => `sha256/${randomBytes(32).toString('base64')}`;
const HOST = 'api.example.test';

async function tempDir(t) {
  const dir = await mkdtemp(join(tmpdir(), 'certpin-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function pinFile(t, document = { version: 1, hosts: { [HOST]: { pins: [{ pin: randomPin(), status: 'active' }] } } }) {
  const path = join(await tempDir(t), 'pins.json');
  await writeFile(path, `${JSON.stringify(document, null, 2)}\n`);
  return path;
}

/** Runs an ES module snippet in a child process; resolves with { code, signal, stdout, stderr }. */
function runChild(code, { onStdout } = {}) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => { stdout += chunk; onStdout?.(stdout, child); });
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

test('eight processes adding their own pins at once all end up in the file', async (t) => {
  const path = await pinFile(t);
  const perProcess = 5;
  const pinsByChild = Array.from({ length: 8 }, () => Array.from({ length: perProcess }, randomPin));
  const children = pinsByChild.map((pins) => runChild(`
    import { addPin } from 'certpin';
    for (const pin of ${JSON.stringify(pins)}) await addPin(${JSON.stringify(path)}, ${JSON.stringify(HOST)}, pin, { status: 'backup' });
  `));
  const outcomes = await Promise.all(children.map((c) => c.done));
  for (const outcome of outcomes) assert.equal(outcome.code, 0, outcome.stderr);
  const { document } = await readPinFile(path);
  const listed = document.hosts[HOST].pins.map((p) => p.pin);
  assert.equal(listed.length, 1 + 8 * perProcess);
  for (const pin of pinsByChild.flat()) assert.ok(listed.includes(pin), `${pin} was lost`);
  await assert.rejects(stat(`${path}.lock`), { code: 'ENOENT' });
});

test('a lock whose holder was killed is broken, and the update goes through', async (t) => {
  const path = await pinFile(t);
  // The child takes the lock through the real writer and never lets go.
  const { child, done } = runChild(`
    import { updatePinFile } from ${JSON.stringify(storeModule)};
    await updatePinFile(${JSON.stringify(path)}, async () => { console.log('locked'); await new Promise(() => setInterval(() => {}, 1000)); });
  `, { onStdout: (text, c) => { if (text.includes('locked')) c.kill('SIGKILL'); } });
  const outcome = await done;
  assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
  const lock = JSON.parse(await readFile(`${path}.lock`, 'utf8'));
  assert.equal(lock.pid, child.pid);
  const pin = randomPin();
  const started = Date.now();
  await addPin(path, HOST, pin, { status: 'backup', lockTimeoutMs: 5000 });
  assert.ok(Date.now() - started < 2000, 'a dead holder is detected at once, not after the age limit');
  assert.ok((await readPinFile(path)).document.hosts[HOST].pins.some((p) => p.pin === pin));
  await assert.rejects(stat(`${path}.lock`), { code: 'ENOENT' });
});

test('a lock older than staleLockMs is broken even if its holder looks alive; a fresh one is waited for', async (t) => {
  const path = await pinFile(t);
  const lock = (createdAt) => JSON.stringify({ pid: process.ppid, host: 'elsewhere', createdAt, token: 'x' });
  await writeFile(`${path}.lock`, lock(Date.now()));
  await assert.rejects(addPin(path, HOST, randomPin(), { status: 'backup', lockTimeoutMs: 200 }), { name: 'CertpinError', code: 'ERR_CERTPIN_LOCKED', message: /another process holds .*pins\.json\.lock/ });
  await writeFile(`${path}.lock`, lock(Date.now() - 60_000));
  await addPin(path, HOST, randomPin(), { status: 'backup', lockTimeoutMs: 2000, staleLockMs: 30_000 });
  await assert.rejects(stat(`${path}.lock`), { code: 'ENOENT' });
});

test('a writer killed in mid-write leaves the old or the new file, whole, and the next writer recovers', async (t) => {
  const path = await pinFile(t);
  const dir = join(path, '..');
  const size = 40 * 1024 * 1024;
  // When to kill: as soon as the temporary file exists, once it is fully written (before the rename),
  // and at a few moments after the writer announced it was about to write.
  const plans = ['temp-created', 'temp-written', 0, 20, 80];
  let killedBeforeRename = 0;
  for (const [round, plan] of plans.entries()) {
    const before = await readFile(path, 'utf8');
    const note = `round ${round}`;
    let watching = true;
    const { child, done } = runChild(`
      import { updatePinFile } from ${JSON.stringify(storeModule)};
      await updatePinFile(${JSON.stringify(path)}, (doc) => { doc.hosts[${JSON.stringify(HOST)}].note = ${JSON.stringify(note)} + 'x'.repeat(${size}); console.log('writing'); });
    `, { onStdout: (text, c) => { if (typeof plan === 'number' && text.includes('writing')) setTimeout(() => c.kill('SIGKILL'), plan); } });
    if (typeof plan === 'string') {
      (async () => {
        while (watching) {
          // The pin file's own temporary file, not the lock's (written whole, then linked into place).
          const temp = (await readdir(dir)).find((name) => name.endsWith('.tmp') && !name.endsWith('.lock.tmp'));
          if (temp !== undefined && (plan === 'temp-created' || (await stat(join(dir, temp)).catch(() => ({ size: 0 }))).size >= size)) {
            child.kill('SIGKILL');
            return;
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
    }
    const outcome = await done;
    watching = false;
    const after = await readFile(path, 'utf8');
    const temps = (await readdir(dir)).filter((name) => name.endsWith('.tmp'));
    if (outcome.signal === 'SIGKILL' && after === before && temps.length > 0) killedBeforeRename++;
    assert.ok(after === before || JSON.parse(after).hosts[HOST].note.startsWith(note), 'the file is the old one or the new one');
    await readPinFile(path);
    // The next writer breaks the dead writer's lock and clears its temporary file.
    await approvePin(path, HOST, JSON.parse(after).hosts[HOST].pins[0].pin, { lockTimeoutMs: 5000 });
    assert.deepEqual((await readdir(dir)).filter((name) => name !== 'pins.json'), []);
  }
  assert.ok(killedBeforeRename >= 2, `writers died between writing the temporary file and renaming it (${killedBeforeRename} times)`);
});

test('annotations (note, x-…) and key order survive a rewrite', async (t) => {
  const pending = randomPin();
  const text = `{
  "$schema": "https://example.test/pins.schema.json",
  "x-owner": { "team": "payments", "oncall": ["a", "b"] },
  "hosts": {
    "zeta.example.test": {
      "pins": ["${randomPin()}"],
      "x-ticket": "SEC-42"
    },
    "${HOST}": {
      "note": "before pins",
      "pins": [
        { "status": "pending_review", "pin": "${pending}", "x-seenBy": "rotate@ci", "subject": "CN=x" }
      ],
      "port": 8443
    }
  },
  "version": 1,
  "settings": { "pinLevel": "intermediate", "x-custom": true }
}
`;
  const path = join(await tempDir(t), 'pins.json');
  await writeFile(path, text);
  await approvePin(path, HOST, pending);
  const expected = JSON.stringify(JSON.parse(text.replace('"pending_review"', '"active"')), null, 2) + '\n';
  assert.equal(await readFile(path, 'utf8'), expected);
});

test('the file keeps its own indentation', async (t) => {
  const pin = randomPin();
  const path = join(await tempDir(t), 'pins.json');
  await writeFile(path, `${JSON.stringify({ hosts: { [HOST]: { pins: [{ pin, status: 'pending_review' }] } } }, null, 4)}\n`);
  await approvePin(path, HOST, pin);
  assert.match(await readFile(path, 'utf8'), /^\{\n {4}"hosts": \{\n {8}"api/);
});

for (const [name, text] of [
  ['truncated', '{\n  "version": 1,\n  "hosts": {\n    "api.example.test": {\n      "pins": [\n'],
  ['empty', ''],
  ['not an object', '[]\n'],
]) {
  test(`a ${name} file is reported and never overwritten`, async (t) => {
    const path = join(await tempDir(t), 'pins.json');
    await writeFile(path, text);
    await assert.rejects(addPin(path, HOST, randomPin(), { status: 'backup' }), (error) => {
      assert.equal(error.code, 'ERR_CERTPIN_INVALID_CONFIG');
      assert.ok(error.message.startsWith(`${path}: `), error.message);
      return true;
    });
    assert.equal(await readFile(path, 'utf8'), text);
    await assert.rejects(stat(`${path}.lock`), { code: 'ENOENT' });
  });
}

test('validation names the file, the field and the value at fault', async (t) => {
  const path = await pinFile(t, { hosts: { [HOST]: { pins: [randomPin(), randomPin(), { pin: 'sha256/abc', status: 'backup' }] } } });
  await assert.rejects(readPinFile(path), {
    code: 'ERR_CERTPIN_INVALID_CONFIG',
    message: new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: hosts\\["api\\.example\\.test"\\]\\.pins\\[2\\]\\.pin: not a SHA-256 pin: "sha256/abc"`),
  });
  const probe = await pinFile(t, { hosts: { '*.example.test': { pins: [randomPin()], probeHost: '*.example.test' } } });
  await assert.rejects(readPinFile(probe), { message: /hosts\["\*\.example\.test"\]\.probeHost: expected a host name without wildcards, got "\*\.example\.test"/ });
  const elsewhere = await pinFile(t, { hosts: { '*.example.test': { pins: [randomPin()], probeHost: 'www.example.org' } } });
  await assert.rejects(readPinFile(elsewhere), { message: /probeHost: "www\.example\.org" does not match \*\.example\.test/ });
  const fine = await pinFile(t, { hosts: { '*.example.test': { pins: [randomPin()], probeHost: 'www.example.test' } } });
  assert.equal((await readPinFile(fine)).document.hosts['*.example.test'].probeHost, 'www.example.test');
});

test('an edit that would make the file invalid is refused and nothing is written', async (t) => {
  const path = await pinFile(t);
  const before = await readFile(path, 'utf8');
  await assert.rejects(updatePinFile(path, (doc) => { doc.settings = { pinLevel: 'middle' }; }), { message: /settings\.pinLevel: expected "leaf", "intermediate" or "root", got "middle"/ });
  assert.equal(await readFile(path, 'utf8'), before);
});

test('the shipped JSON Schema agrees with the validator on statuses, levels and pins', async () => {
  const schema = JSON.parse(await readFile(new URL('../../schema/pins.schema.json', import.meta.url), 'utf8'));
  const { PIN_STATUSES } = await import('../../build/src/policy/config.js');
  assert.deepEqual(schema.$defs.status.enum, [...PIN_STATUSES]);
  assert.deepEqual(schema.properties.settings.properties.pinLevel.enum, ['leaf', 'intermediate', 'root']);
  assert.ok(schema.$defs.host.properties.probeHost);
  const pinPattern = new RegExp(schema.$defs.pin.pattern);
  const pin = randomPin();
  for (const good of [pin, pin.replace('sha256/', 'sha256//'), `pin-sha256="${pin.slice(7)}"`]) assert.match(good, pinPattern);
  for (const bad of ['sha256/abc', `sha1/${pin.slice(7)}`, `${pin}x`]) assert.doesNotMatch(bad, pinPattern);
});

// Issue 16 item 10: the file on disk keeps its owner, group and mode; a symlink is written through;
// an empty lock left by a failed write does not make the next writer wait.

test('a rewrite keeps the file\'s owner, group and mode (run as root: a file of another user stays theirs)', async (t) => {
  const path = await pinFile(t);
  const { chmod, chown } = await import('node:fs/promises');
  await chmod(path, 0o640);
  const asRoot = process.getuid?.() === 0;
  // CI runs as root: give the file to nobody (65534) and rewrite it as root. Otherwise the file is
  // ours and what can be checked is that owner, group and mode are those it had.
  if (asRoot) await chown(path, 65534, 65534);
  const before = await stat(path);
  await addPin(path, HOST, randomPin(), { status: 'backup' });
  const after = await stat(path);
  assert.notEqual(after.ino, before.ino, 'the file was replaced (atomic rename), not edited in place');
  assert.deepEqual([after.uid, after.gid, after.mode & 0o7777], [before.uid, before.gid, 0o640]);
  if (asRoot) assert.deepEqual([after.uid, after.gid], [65534, 65534]);
  assert.equal((await readPinFile(path)).document.hosts[HOST].pins.length, 2);
});

test('a symlinked pins.json is written through to its target, and the link stays a link', async (t) => {
  const dir = await tempDir(t);
  const { mkdir, symlink, lstat, readlink } = await import('node:fs/promises');
  await mkdir(join(dir, 'real'));
  await mkdir(join(dir, 'app'));
  const target = join(dir, 'real', 'pins.json');
  await writeFile(target, `${JSON.stringify({ version: 1, hosts: { [HOST]: { pins: [randomPin()] } } }, null, 2)}\n`);
  const link = join(dir, 'app', 'pins.json');
  await symlink('../real/pins.json', link); // relative, as configuration tools make them
  // a link to the link, too
  const link2 = join(dir, 'pins.json');
  await symlink(link, link2);
  const pin = randomPin();
  await addPin(link2, HOST, pin, { status: 'backup' });
  assert.ok((await lstat(link)).isSymbolicLink());
  assert.ok((await lstat(link2)).isSymbolicLink());
  assert.equal(await readlink(link), '../real/pins.json');
  assert.ok(JSON.parse(await readFile(target, 'utf8')).hosts[HOST].pins.some((p) => p.pin === pin), 'the target changed');
  assert.deepEqual((await readdir(join(dir, 'app'))).sort(), ['pins.json'], 'no lock or temporary file beside the link');
  assert.deepEqual((await readdir(join(dir, 'real'))).sort(), ['pins.json']);
});

test('an empty pins.json.lock (a write that failed on a full disk) is broken at once, without waiting', async (t) => {
  const { channel } = await import('node:diagnostics_channel');
  const { PIN_FILE_LOCK_CHANNEL: LOCK_CHANNEL } = await import('certpin');
  const path = await pinFile(t);
  const events = [];
  const onEvent = (message) => { if (message.path === path) events.push(message.event); };
  channel(LOCK_CHANNEL).subscribe(onEvent);
  t.after(() => channel(LOCK_CHANNEL).unsubscribe(onEvent));
  await writeFile(`${path}.lock`, '');
  await addPin(path, HOST, randomPin(), { status: 'backup' });
  assert.deepEqual(events, ['broken', 'acquired'], 'the empty lock was judged stale on first sight: the writer never waited');
  await assert.rejects(stat(`${path}.lock`), { code: 'ENOENT' });
  // control: a fresh lock of a writer on another machine is waited for
  events.length = 0;
  await writeFile(`${path}.lock`, JSON.stringify({ pid: process.ppid, host: 'elsewhere', createdAt: Date.now(), token: 'x' }));
  await assert.rejects(addPin(path, HOST, randomPin(), { status: 'backup', lockTimeoutMs: 100 }), { code: 'ERR_CERTPIN_LOCKED' });
  assert.ok(events.includes('waiting'), events.join());
  assert.ok(!events.includes('broken'));
});

test('a lock never exists half-written: concurrent writers read only whole locks', async (t) => {
  const path = await pinFile(t);
  const { acquireLock } = await import('../../build/src/pinfile/store.js');
  const release = await acquireLock(path);
  const text = await readFile(`${path}.lock`, 'utf8');
  assert.equal(JSON.parse(text).pid, process.pid);
  assert.deepEqual((await readdir(dirname(path))).sort(), ['pins.json', 'pins.json.lock'], 'the temporary lock file is gone once linked');
  await release();
  await assert.rejects(stat(`${path}.lock`), { code: 'ENOENT' });
});
