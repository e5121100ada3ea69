import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { fileURLToPath } from 'node:url';
import certpin from './scripts/eslint-public-api.mjs';

const ROOT = fileURLToPath(new URL('.', import.meta.url));

export default tseslint.config(
  { ignores: ['build/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', Buffer: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', fetch: 'readonly', performance: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // The CLI is a user of the library like any other: every name it imports from outside src/cli/
    // must be one src/index.ts exports from that module (scripts/eslint-public-api.mjs). It imports
    // those modules directly, not src/index.ts, so that a command loads only what it needs.
    files: ['src/cli/**/*.ts'],
    plugins: { certpin },
    rules: {
      'certpin/public-api-only': ['error', {
        index: `${ROOT}src/index.ts`,
        root: ROOT,
        scope: 'src/cli',
        allow: [
          // The demo builds a throwaway PKI (root, intermediate, leaf, a MITM's CA) to show pinning
          // offline. Minting certificates is no part of a pinning library's API, so createCertificate
          // stays internal rather than become public for one showcase.
          { file: 'src/cli/demo.ts', from: 'src/lib/x509.ts', names: ['createCertificate'] },
          // The one edit distance (optimal string alignment) of certpin: the library's "did you
          // mean" for configuration keys and the CLI's for commands and options both use it. It is
          // no pinning API, and a copy under src/cli/ would make two implementations again.
          { file: 'src/cli/suggest.ts', from: 'src/lib/suggest.ts', names: ['editDistance'] },
          // The one bounded-concurrency map: initPins, rotatePins and probeEntries run their servers
          // through it, and so do the CLI's pins, verify and expiry (through output.ts, its only door
          // into the CLI). A generic helper a user would take from anywhere, not a certpin API.
          { file: 'src/cli/output.ts', from: 'src/lib/concurrency.ts', names: ['mapConcurrent'] },
        ],
      }],
    },
  },
);
