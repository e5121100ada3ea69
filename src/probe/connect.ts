import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { CertpinError } from '../errors.js';
import type { Endpoint } from './target.js';

export const DEFAULT_TIMEOUT = 10_000;

/**
 * OpenSSL's certificate verification results, as Node reports them in `authorizationError` (a bare
 * code there) and as error codes: the text is OpenSSL's own, so users can search for it.
 */
const VERIFY_ERRORS: Readonly<Record<string, string>> = {
  UNABLE_TO_GET_ISSUER_CERT: 'unable to get issuer certificate',
  UNABLE_TO_GET_CRL: 'unable to get certificate CRL',
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: "unable to decrypt certificate's signature",
  UNABLE_TO_DECRYPT_CRL_SIGNATURE: "unable to decrypt CRL's signature",
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 'unable to decode issuer public key',
  CERT_SIGNATURE_FAILURE: 'certificate signature failure',
  CRL_SIGNATURE_FAILURE: 'CRL signature failure',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CRL_NOT_YET_VALID: 'CRL is not yet valid',
  CRL_HAS_EXPIRED: 'CRL has expired',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: "format error in certificate's notBefore field",
  ERROR_IN_CERT_NOT_AFTER_FIELD: "format error in certificate's notAfter field",
  ERROR_IN_CRL_LAST_UPDATE_FIELD: "format error in CRL's lastUpdate field",
  ERROR_IN_CRL_NEXT_UPDATE_FIELD: "format error in CRL's nextUpdate field",
  OUT_OF_MEM: 'out of memory',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate',
  CERT_CHAIN_TOO_LONG: 'certificate chain too long',
  CERT_REVOKED: 'certificate revoked',
  INVALID_CA: 'invalid CA certificate',
  PATH_LENGTH_EXCEEDED: 'path length constraint exceeded',
  INVALID_PURPOSE: 'unsupported certificate purpose',
  CERT_UNTRUSTED: 'certificate not trusted',
  CERT_REJECTED: 'certificate rejected',
  HOSTNAME_MISMATCH: 'hostname mismatch',
  EMAIL_MISMATCH: 'email address mismatch',
  IP_ADDRESS_MISMATCH: 'IP address mismatch',
  INVALID_CALL: 'invalid certificate verification context',
  STORE_LOOKUP: 'issuer certificate lookup error',
};

/**
 * True when a connection failed because the server's identity was not accepted (standard validation
 * or a pin), as opposed to the server being unreachable or not speaking TLS.
 */
export function isValidationError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof CertpinError) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code in VERIFY_ERRORS || code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code.startsWith('ERR_CERTPIN_'));
}

export function describeVerifyError(code: string): string {
  const text = VERIFY_ERRORS[code];
  return text ? `${text} (${code})` : code;
}

export interface SystemError extends Error {
  code?: string;
}

export function where(endpoint: Endpoint): string {
  const host = isIP(endpoint.host) === 6 ? `[${endpoint.host}]` : endpoint.host;
  const address = endpoint.address === endpoint.host ? '' : ` (${isIP(endpoint.address) === 6 ? `[${endpoint.address}]` : endpoint.address})`;
  return `${host}:${endpoint.port}${address}`;
}

/** OpenSSL's short reason ("wrong version number"), which Node puts in `reason`; its `message` is a long line of internals. */
function reasonOf(error: SystemError): string {
  const reason = (error as { reason?: unknown }).reason;
  if (typeof reason === 'string' && reason !== '') return reason;
  return /SSL routines:[^:]*:([^:]+)/.exec(error.message)?.[1] ?? error.code ?? error.message;
}

/** A network or handshake failure as one sentence that says what happened and where. */
function connectionError(error: SystemError, endpoint: Endpoint): Error {
  if (isValidationError(error)) return error;
  const code = error.code ?? '';
  const at = where(endpoint);
  let message: string;
  switch (code) {
    case 'ENOTFOUND':
      message = `cannot resolve host ${JSON.stringify(endpoint.address)}: no such host (ENOTFOUND)`;
      break;
    case 'EAI_AGAIN':
      message = `cannot resolve host ${JSON.stringify(endpoint.address)}: DNS lookup failed (EAI_AGAIN)`;
      break;
    case 'ECONNREFUSED':
      message = `connection refused by ${at}: nothing listens on that port (ECONNREFUSED)`;
      break;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      message = `cannot reach ${at} (${code})`;
      break;
    case 'ECONNRESET':
    case 'EPIPE':
      message = `${at} closed the connection during the TLS handshake (${code}); is it a TLS port?`;
      break;
    case 'ETIMEDOUT':
      message = error.message;
      break;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
    case 'ERR_SSL_HTTP_REQUEST':
    case 'ERR_SSL_UNKNOWN_PROTOCOL':
    case 'ERR_SSL_RECORD_LAYER_FAILURE':
      message = `${at} does not speak TLS (OpenSSL: ${reasonOf(error)}); it looks like a plain-text port, such as HTTP`;
      break;
    default:
      message = code.startsWith('ERR_SSL_')
        ? `TLS handshake with ${at} failed: ${reasonOf(error)} (${code})`
        : `cannot connect to ${at}: ${error.message}${code && !error.message.includes(code) ? ` (${code})` : ''}`;
  }
  const wrapped: SystemError = new Error(message, { cause: error });
  if (code) wrapped.code = code;
  return wrapped;
}

/** How one attempt ended: the secure socket, or an error and whether a TCP connection had been made. */
type Attempt = { socket: TLSSocket } | { error: SystemError; reached: boolean };

/**
 * One connection attempt to one address: TCP within `connectMs`, then the TLS handshake by the
 * deadline. `tls.connect` opens the TCP connection itself (as it does for every TLS client), and its
 * 'connect' event tells a server that was never reached from one that was.
 */
function attempt(endpoint: Endpoint, options: ConnectionOptions, connectMs: number, deadline: number, timeout: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const tlsOptions: ConnectionOptions = { ...options, host: endpoint.address, port: endpoint.port };
    if (endpoint.servername !== undefined) tlsOptions.servername = endpoint.servername;
    else delete tlsOptions.servername;
    const check = tlsOptions.checkServerIdentity;
    if (endpoint.servername === undefined && endpoint.address !== endpoint.host && check !== undefined) {
      // Node checks the certificate against `servername || host`, and an IP target has no servername:
      // an IP target sent elsewhere by --resolve is still checked as the IP it names, as curl does.
      tlsOptions.checkServerIdentity = function identityOfTarget(this: unknown, _address: string, cert: PeerCertificate) {
        return check.call(this, endpoint.identity, cert);
      };
    }
    let reached = false;
    let settled = false;
    const finish = (outcome: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    let socket: TLSSocket;
    try {
      socket = connect(tlsOptions);
    } catch (error) {
      resolve({ error: error as SystemError, reached: false });
      return;
    }
    let timer = setTimeout(() => {
      const error: SystemError = new Error(`no connection to ${where(endpoint)} within ${Math.round(connectMs)} ms (ETIMEDOUT)`);
      error.code = 'ETIMEDOUT';
      socket.destroy(error);
    }, connectMs);
    socket.once('connect', () => {
      reached = true;
      clearTimeout(timer);
      timer = setTimeout(() => {
        const error: SystemError = new Error(`no TLS handshake with ${where(endpoint)} within ${timeout} ms (ETIMEDOUT)`);
        error.code = 'ETIMEDOUT';
        socket.destroy(error);
      }, Math.max(1, deadline - performance.now()));
    });
    socket.once('error', (error: SystemError) => {
      socket.destroy();
      finish({ error, reached });
    });
    socket.once('secureConnect', () => {
      // A late error (the server resetting after the handshake) must not become an uncaught exception.
      socket.on('error', () => {});
      finish({ socket });
    });
    socket.once('close', () => {
      const error: SystemError = new Error('socket closed');
      error.code = 'ECONNRESET';
      finish({ error, reached });
    });
  });
}

/** One error for a host none of whose addresses could be reached: each attempt, in order; the last one's code. */
function unreachableError(endpoint: Endpoint, failures: readonly SystemError[]): Error {
  if (failures.length === 1) return failures[0]!;
  const last = failures[failures.length - 1]!;
  const host = isIP(endpoint.host) === 6 ? `[${endpoint.host}]` : endpoint.host;
  const error: SystemError = new Error(`none of the ${failures.length} addresses of ${host}:${endpoint.port} could be reached: ${failures.map((f) => f.message).join('; ')}`, { cause: last });
  if (last.code !== undefined) error.code = last.code;
  return error;
}

/**
 * Connects and completes a TLS handshake with `endpoint`, within `timeout` ms in all (DNS, TCP and TLS).
 * Resolves with the secure socket (the caller ends it); rejects with a one-sentence error: a
 * validation failure as Node or the pin check raised it, anything else rewritten to say where.
 *
 * The endpoint's addresses are tried in order, as curl tries --resolve addresses: one that cannot be
 * connected to (refused, unreachable, no answer within its share of the time left) gives way to the
 * next. Once a TCP connection is made, that server is the answer: a TLS, certificate or pin failure is
 * final and no other address is tried, so what a check reports is never decided by whichever address
 * happens to pass (curl stops there too). Each of n addresses left gets 1/n of the time left to connect.
 */
export async function connectTls(endpoint: Endpoint, options: ConnectionOptions, timeout = DEFAULT_TIMEOUT): Promise<TLSSocket> {
  // performance.now(), not Date.now(): a test that freezes the clock must not freeze the deadline.
  const deadline = performance.now() + timeout;
  const addresses = endpoint.addresses.length > 0 ? endpoint.addresses : [endpoint.address];
  const failures: SystemError[] = [];
  for (const [index, address] of addresses.entries()) {
    const at: Endpoint = { ...endpoint, address };
    const left = Math.max(1, deadline - performance.now());
    const outcome = await attempt(at, options, left / (addresses.length - index), deadline, timeout);
    if ('socket' in outcome) return outcome.socket;
    const error = connectionError(outcome.error, at) as SystemError;
    // A server was reached: its answer stands, whatever the other addresses would say.
    if (outcome.reached) throw error;
    failures.push(error);
  }
  throw unreachableError(endpoint, failures);
}

/**
 * The certificates the server sent, leaf first, in the order Node links them (`issuerCertificate`,
 * which ends in a loop at a self-signed root); at most 32.
 */
export function servedCertificates(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  for (let cert = socket.getPeerX509Certificate(); cert && !seen.has(cert.fingerprint256) && chain.length < 32; cert = cert.issuerCertificate) {
    seen.add(cert.fingerprint256);
    chain.push(cert);
  }
  return chain;
}

