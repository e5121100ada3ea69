import { defineCommand, UsageError } from '../command.js';

export default defineCommand({
  name: 'demo',
  summary: 'an offline showcase: a local PKI, a pinned client, a corporate MITM and a DNS hijack refused',
  usage: `Usage: certpin demo

Runs offline, on 127.0.0.1 only: makes a throwaway PKI, starts a local "api.example.test" server, and
shows step by step its pins; a pinned request succeeding; a corporate TLS-inspecting proxy whose root
the machine trusts, fooling an ordinary client and refused by the pinned one; the same for a DNS hijack
with a fraudulent certificate from a coerced CA; a routine leaf renewal passing because the
intermediate is pinned; and a new intermediate detected by the rotation job. Everything is cleaned up.

Exit status: 0 when every step behaved as shown, 1 otherwise.`,
  options: {},
  allowPositionals: false,
  async run({ json, out }) {
    // The demo is a story told to a person; there is no document to print, and printing text under
    // --json would break whatever parses it.
    if (json) throw new UsageError('demo is a walk-through for people; --json is not available');
    // Loaded on demand: the demo pulls in undici for its unpinned clients, which other commands never need.
    const { runDemo } = await import('../demo.js');
    const ok = await runDemo({
      heading: (text) => out.line(`\n${out.style.bold(out.style.cyan(`== ${text}`))}`),
      line: (text) => out.line(text),
      ok: (text) => out.line(`  ${out.style.green('✔')} ${text}`),
      fail: (text) => out.line(`  ${out.style.red('✘')} ${text}`),
    });
    return ok ? 0 : 1;
  },
});
