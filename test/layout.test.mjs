// The layout a maintainer can read: dependencies point one way. A cycle between modules (even a
// type-only one) means two concepts that cannot be read, tested or moved apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Every .ts file under src/ and the files it imports or re-exports (relative specifiers only). */
function importGraph() {
  const graph = new Map();
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        const targets = [...text.matchAll(/^(?:import|export)\b[^'"]*?from '(\.[^']+)'/gm)].map((m) => normalize(join(dirname(path), m[1].replace(/\.js$/, '.ts'))));
        graph.set(path, targets);
      }
    }
  };
  walk(SRC);
  return graph;
}

function cycles(graph) {
  const state = new Map();
  const stack = [];
  const found = [];
  const visit = (node) => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'open') {
      found.push([...stack.slice(stack.indexOf(node)), node].map((p) => relative(SRC, p)).join(' -> '));
      return;
    }
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) if (graph.has(next)) visit(next);
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) visit(node);
  return found;
}

test('src/ has no import cycle, type-only imports included', () => {
  assert.deepEqual(cycles(importGraph()), []);
});

test('the cycle check can fail: a graph with a loop is reported', () => {
  const a = join(SRC, 'a.ts');
  const b = join(SRC, 'b.ts');
  assert.deepEqual(cycles(new Map([[a, [b]], [b, [a]]])), ['a.ts -> b.ts -> a.ts']);
});

test('every folder of src/ has its test folder, and src/ has no loose module but the entry points', () => {
  const TEST = fileURLToPath(new URL('./', import.meta.url));
  const entries = readdirSync(SRC, { withFileTypes: true });
  const folders = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  assert.deepEqual(folders.filter((name) => !statSync(join(TEST, name), { throwIfNoEntry: false })?.isDirectory()), []);
  // A concept gets a folder; what stays at the top is what every folder uses or what the package exports.
  const loose = entries.filter((entry) => entry.isFile()).map((entry) => entry.name).sort();
  assert.deepEqual(loose, ['channels.ts', 'errors.ts', 'index.ts', 'register.ts']);
});

test("CONTRIBUTING.md's map names only files and folders that exist", () => {
  const ROOT = fileURLToPath(new URL('../', import.meta.url));
  const map = readFileSync(join(ROOT, 'CONTRIBUTING.md'), 'utf8');
  const named = [...map.matchAll(/`(src\/[^`]*)`/g)].flatMap(([, path]) => {
    const braces = /\{([^}]+)\}/.exec(path);
    return braces ? braces[1].split(',').map((part) => path.replace(braces[0], part)) : [path];
  });
  assert.ok(named.length > 20, `the map names ${named.length} paths`);
  assert.deepEqual(named.filter((path) => !path.includes('*') && statSync(join(ROOT, path), { throwIfNoEntry: false }) === undefined), []);
});
