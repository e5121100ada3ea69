// `onViolation` given in the configuration object (issue 14 item 2, docs/runbook.md): accepted like the option,
// so `createPolicy({ hosts, onViolation })` with a report-only host reports; never silently ignored.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicy, pinnedAgent } from 'certpin';
import { makePki } from '../../support/pki.mjs';
import { startHttpsServer } from '../../support/servers.mjs';
import { httpsRequest, lookupLoopback } from '../../support/transport-fixtures.mjs';

const pki = await makePki();
const HOST = 'api.example.test';

/** Pins no server here uses: every connection to HOST violates them. */
const reportOnly = (extra = {}) => ({ ca: [pki.root.pem], hosts: { [HOST]: { pins: [pki.rogueIntermediate.pin, { pin: pki.rogueRoot.pin, status: 'backup' }], enforce: false } }, ...extra });

async function requestThrough(t, policy) {
  const server = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] });
  t.after(() => server.close());
  const agent = pinnedAgent(policy, { lookup: lookupLoopback });
  t.after(() => agent.destroy());
  const response = await httpsRequest(`https://${HOST}:${server.port}/`, { agent });
  return { response, server };
}

describe('onViolation in the configuration object', () => {
  test('a report-only host reports to it over a real connection', async (t) => {
    const reports = [];
    const policy = createPolicy(reportOnly({ onViolation: (report) => reports.push(report) }));
    const { response, server } = await requestThrough(t, policy);
    assert.equal(response.status, 200, 'report-only: the request goes ahead');
    assert.equal(server.requests.length, 1);
    assert.equal(reports.length, 1, 'the violation reached the callback given in the config');
    assert.equal(reports[0].hostname, HOST);
    assert.equal(reports[0].enforced, false);
  });

  test('the same function in both places is fine; two different ones are refused', () => {
    const onViolation = () => {};
    assert.equal(createPolicy(reportOnly({ onViolation }), { onViolation }).onViolation, onViolation);
    assert.throws(() => createPolicy(reportOnly({ onViolation }), { onViolation: () => {} }), { name: 'TypeError', message: /onViolation is given both in the configuration and in the options/ });
  });

  test('a value that is not a function is refused, naming the field', () => {
    assert.throws(() => createPolicy(reportOnly({ onViolation: 'console.log' })), { code: 'ERR_CERTPIN_INVALID_CONFIG', message: /^onViolation: expected a function .*got "console\.log"/ });
  });

  test('update: a config carrying one replaces the callback; a config without one keeps it', async (t) => {
    const first = [];
    const second = [];
    const policy = createPolicy(reportOnly({ onViolation: (r) => first.push(r) }));
    policy.update(reportOnly());
    assert.equal(typeof policy.onViolation, 'function', 'kept');
    policy.update(reportOnly({ onViolation: (r) => second.push(r) }));
    await requestThrough(t, policy);
    assert.deepEqual([first.length, second.length], [0, 1]);
  });
});
