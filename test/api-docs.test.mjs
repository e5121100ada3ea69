// The API reference in docs/api is what TypeDoc renders from the TSDoc now, with no warning:
// typedoc.json treats every warning as an error (an undocumented export, a broken {@link}, a public
// type that refers to one not exported), and the checked-in Markdown must equal a fresh render, so
// CI catches a TSDoc change committed without `npm run docs`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh, tempDir } from './support/npm.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Every file under `dir` as `relative path → text`. */
function readTree(dir, prefix = '') {
  const files = {};
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) Object.assign(files, readTree(path, `${prefix}${entry.name}/`));
    else files[`${prefix}${entry.name}`] = readFileSync(path, 'utf8');
  }
  return files;
}

test('docs/api is the API reference TypeDoc renders from the TSDoc now, with no warning (run `npm run docs`)', { timeout: 300_000 }, async (t) => {
  const out = tempDir(t, 'certpin-api-docs-');
  const render = await sh(process.execPath, [join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out, '--logLevel', 'Warn'], { cwd: ROOT });
  assert.equal(render.code, 0, render.output);
  assert.doesNotMatch(render.output, /warning|error/i, render.output);
  const fresh = readTree(out);
  const checkedIn = readTree(join(ROOT, 'docs', 'api'));
  assert.ok(Object.keys(fresh).length > 50, `rendered ${Object.keys(fresh).length} pages`);
  assert.deepEqual(Object.keys(checkedIn).sort(), Object.keys(fresh).sort(), 'pages added or removed: run `npm run docs` and commit docs/api');
  const stale = Object.keys(fresh).filter((page) => checkedIn[page] !== fresh[page]);
  assert.deepEqual(stale, [], 'docs/api is out of date: run `npm run docs` and commit docs/api');
});
