// Reading targets (src/probe/target.ts): what TARGET and --resolve mean, decided without touching the
// network, so a typo is refused before any connection and a file is never mistaken for a host.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { endpointOf, parseResolve, parseTarget } from '../../build/src/probe/target.js';

const dir = mkdtempSync(join(tmpdir(), 'certpin-target-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('parseTarget', () => {
  test('servers: host, host:port, [v6]:port, a bare IPv6 address, https:// URLs', () => {
    assert.deepEqual(parseTarget('api.example.com'), { kind: 'server', host: 'api.example.com', port: 443, portGiven: false });
    assert.deepEqual(parseTarget(' api.example.com:8443 '), { kind: 'server', host: 'api.example.com', port: 8443, portGiven: true });
    assert.deepEqual(parseTarget('[::1]:9443'), { kind: 'server', host: '::1', port: 9443, portGiven: true });
    assert.deepEqual(parseTarget('::1'), { kind: 'server', host: '::1', port: 443, portGiven: false });
    assert.deepEqual(parseTarget('https://api.example.com/health'), { kind: 'server', host: 'api.example.com', port: 443, portGiven: false });
    assert.deepEqual(parseTarget('https://[::1]:8443/'), { kind: 'server', host: '::1', port: 8443, portGiven: true });
  });

  test('files: an existing file, or anything that looks like a path, even when missing', () => {
    const existing = join(dir, 'api.example.com');
    writeFileSync(existing, '');
    assert.deepEqual(parseTarget(existing), { kind: 'file', path: existing });
    assert.deepEqual(parseTarget('missing/leaf'), { kind: 'file', path: 'missing/leaf' });
    assert.deepEqual(parseTarget('backup.key'), { kind: 'file', path: 'backup.key' });
    assert.deepEqual(parseTarget('chain.PEM'), { kind: 'file', path: 'chain.PEM' });
  });

  test('what is neither is refused with ERR_CERTPIN_INVALID_INPUT, quoting the target and saying why', () => {
    const cases = [
      ['', /: empty$/],
      ['api.example.com:0', /the port must be a number 1-65535, got "0"/],
      ['api.example.com:https', /the port must be a number 1-65535/],
      ['[example.com]:443', /"example.com" is not an IPv6 address/],
      ['http://api.example.com', /only https:\/\/ URLs can be probed, not http:\/\//],
      ['https://', /not a valid URL/],
      ['bad host', /"bad host" is not a host name or IP address/],
    ];
    for (const [text, why] of cases) {
      assert.throws(() => parseTarget(text), (error) => {
        assert.equal(error.code, 'ERR_CERTPIN_INVALID_INPUT', text);
        assert.ok(error.message.startsWith(`not a target: ${JSON.stringify(text)}: `), error.message);
        assert.match(error.message, why, text);
        return true;
      });
    }
  });
});

describe('parseResolve and endpointOf', () => {
  test('the forms curl reads', () => {
    assert.deepEqual(parseResolve('*:443:[::1],127.0.0.1'), { host: '*', port: 443, address: '::1', addresses: ['::1', '127.0.0.1'] });
    assert.deepEqual(parseResolve(' API.Example.com.:8443:10.0.0.5 '), { host: 'api.example.com', port: 8443, address: '10.0.0.5', addresses: ['10.0.0.5'] });
    assert.deepEqual(parseResolve('[0:0::1]:443:::1').host, '::1');
    const endpoint = endpointOf({ host: 'api.example.com', port: 443 }, { resolve: ['*:443:10.0.0.9', 'api.example.com:443:10.0.0.1,10.0.0.2', '*:8443:10.0.0.3'] });
    assert.deepEqual([endpoint.address, endpoint.addresses], ['10.0.0.1', ['10.0.0.1', '10.0.0.2']]);
    assert.deepEqual(endpointOf({ host: 'other.example', port: 443 }, { resolve: ['*:443:10.0.0.9', '*:443:10.0.0.8'] }).addresses, ['10.0.0.8']);
    assert.deepEqual(endpointOf({ host: 'other.example', port: 80 }, { resolve: ['*:443:10.0.0.9'] }).addresses, ['other.example']);
  });

  test('malformed and unsupported forms are refused, quoting the entry and saying why', () => {
    const cases = [
      ['+api.example.com:443:10.0.0.1', /\+HOST form .*not supported.*drop the \+/],
      ['-api.example.com:443', /-HOST:PORT form .*not supported/],
      ['*.example.com:443:10.0.0.1', /only \* on its own stands for any host/],
      ['api.example.com:443', /not HOST:PORT:ADDR/],
      ['api.example.com:443:', /an empty address/],
      ['api.example.com:443:10.0.0.1,', /an empty address/],
      ['api.example.com:443:10.0.0.1,,10.0.0.2', /an empty address/],
      ['api.example.com:0:10.0.0.1', /the port must be 1-65535, got "0"/],
      ['api.example.com:http:10.0.0.1', /the port must be 1-65535/],
      ['api.example.com:443:bogus', /"bogus" is not an IP address/],
      ['api.example.com:443:[::1]:9', /"\[::1\]:9" is not an IP address/],
      ['::1:443:10.0.0.1', /IPv6 host goes in brackets/],
      ['fe80::1:443:10.0.0.1', /IPv6 host goes in brackets/],
      ['[example.com]:443:10.0.0.1', /not an IPv6 address in brackets/],
      ['bad host:443:10.0.0.1', /is not a host name or IP address/],
    ];
    for (const [text, why] of cases) {
      assert.throws(() => parseResolve(text), (error) => {
        assert.equal(error.code, 'ERR_CERTPIN_INVALID_INPUT', text);
        assert.ok(error.message.startsWith(`bad --resolve ${JSON.stringify(text)}: `), error.message);
        assert.match(error.message, why, text);
        return true;
      });
    }
  });
});
