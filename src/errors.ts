/**
 * Every error certpin raises on purpose is a {@link CertpinError} with a stable `code`, so callers can
 * `switch (err.code)` and get the right narrowing. Standard TLS validation failures are not wrapped:
 * they keep Node's own codes (`CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`, …).
 *
 * @example
 * ```ts
 * import { isCertpinError, type CertpinErrorCode } from 'certpin'
 * function advice(code: CertpinErrorCode): string {
 *   switch (code) {
 *     case 'ERR_CERTPIN_MISMATCH': return 'the server is not the one pinned: do not retry blindly'
 *     case 'ERR_CERTPIN_UNPINNED_HOST': return 'add pins for this host, or allow unpinned hosts'
 *     default: return 'fix the pin, input or configuration named in the message'
 *   }
 * }
 * if (isCertpinError(err)) console.error(advice(err.code))
 * ```
 */
export type CertpinErrorCode =
  | 'ERR_CERTPIN_MISMATCH'
  | 'ERR_CERTPIN_UNPINNED_HOST'
  | 'ERR_CERTPIN_INVALID_PIN'
  | 'ERR_CERTPIN_INVALID_INPUT'
  | 'ERR_CERTPIN_INVALID_CONFIG'
  /** The policy changed while a connection was set up or a request queued: nothing was sent; retry. */
  | 'ERR_CERTPIN_POLICY_CHANGED'
  /** Another process holds the pin file's lock for longer than the wait allowed: nothing was written. */
  | 'ERR_CERTPIN_LOCKED';

const CODES: ReadonlySet<string> = new Set<CertpinErrorCode>([
  'ERR_CERTPIN_MISMATCH',
  'ERR_CERTPIN_UNPINNED_HOST',
  'ERR_CERTPIN_INVALID_PIN',
  'ERR_CERTPIN_INVALID_INPUT',
  'ERR_CERTPIN_INVALID_CONFIG',
  'ERR_CERTPIN_POLICY_CHANGED',
  'ERR_CERTPIN_LOCKED',
]);

/**
 * The base class of certpin's errors.
 *
 * @example
 * ```js
 * try { parsePin('sha256/abc') } catch (err) {
 *   if (isCertpinError(err, 'ERR_CERTPIN_INVALID_PIN')) console.error(err.message)
 * }
 * ```
 */
export class CertpinError extends Error {
  /** The stable code to branch on (`switch (err.code)` narrows). */
  readonly code: CertpinErrorCode;

  /**
   * @param code - The stable error code.
   * @param message - What happened, which input, and what to do.
   * @param options - `cause`: the underlying error, as for `Error`.
   */
  constructor(code: CertpinErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertpinError';
    this.code = code;
  }
}

/**
 * One certificate of a verified chain, as a mismatch error shows it.
 *
 * @example
 * ```js
 * // the verified chain of a PinMismatchError, leaf first
 * for (const { pin, subject } of err.peerPins) console.error(`${pin} ${subject}`)
 * ```
 */
export interface PeerPin {
  /** The certificate's SPKI pin, `sha256/…`. */
  pin: string;
  /** The certificate's subject, e.g. `CN=api.example.com`. */
  subject: string;
}

/**
 * The verified chain of the server carries none of the host's trusted pins.
 *
 * @example
 * ```js
 * if (err instanceof PinMismatchError) console.error(err.hostname, err.peerPins, err.expectedPins)
 * ```
 */
export class PinMismatchError extends CertpinError {
  /** The host whose pins failed. */
  readonly hostname: string;
  /** The verified chain, leaf first; empty when there was none. */
  readonly peerPins: PeerPin[];
  /** The host's trusted pins. */
  readonly expectedPins: string[];

  /**
   * @param hostname - The host whose pins failed.
   * @param peerPins - The verified chain, leaf first.
   * @param expectedPins - The host's trusted pins.
   * @param detail - A short reason shown after the host name, e.g. that the pins expired.
   */
  constructor(hostname: string, peerPins: PeerPin[], expectedPins: string[], detail?: string) {
    const lines = [
      `Certificate pinning failure for ${hostname}${detail ? ` (${detail})` : ''}`,
      '  Peer certificate chain:',
      ...(peerPins.length > 0 ? peerPins.map((p) => `    ${p.pin} ${p.subject}`) : ['    (no verified chain)']),
      `  Pinned certificates for ${hostname}:`,
      ...expectedPins.map((p) => `    ${p}`),
    ];
    super('ERR_CERTPIN_MISMATCH', lines.join('\n'));
    this.name = 'PinMismatchError';
    this.hostname = hostname;
    this.peerPins = peerPins;
    this.expectedPins = expectedPins;
  }
}

/**
 * The error {@link isCertpinError} narrows to for a code: a mismatch carries `hostname`, `peerPins` and
 * `expectedPins` (whichever copy of the package threw it); any other code, its `code`.
 *
 * @example
 * ```ts
 * if (isCertpinError(err, 'ERR_CERTPIN_MISMATCH')) console.error(err.hostname, err.expectedPins)
 * ```
 */
export type CertpinErrorOf<C extends CertpinErrorCode> = C extends 'ERR_CERTPIN_MISMATCH'
  ? CertpinError & { readonly code: C; readonly hostname: string; readonly peerPins: PeerPin[]; readonly expectedPins: string[] }
  : CertpinError & { readonly code: C };

/**
 * True when `value` is a certpin error. Works across two copies of the package, since it looks at the
 * code rather than the class.
 *
 * @param value - Anything, typically a caught `err` (which TypeScript types as `unknown`).
 * @returns Whether `value` is a certpin error; a type guard, so `value.code` is typed after it.
 * @throws Never: any value is accepted.
 * @example
 * ```js
 * if (isCertpinError(err)) console.error(`${err.code}: ${err.message}`)
 * ```
 */
export function isCertpinError(value: unknown): value is CertpinError;
/**
 * True when `value` is a certpin error with the given code, narrowed to what that code carries
 * ({@link CertpinErrorOf}: a mismatch has `hostname`, `peerPins`, `expectedPins`).
 *
 * @param value - Anything, typically a caught `err`.
 * @param code - The code required.
 * @returns Whether `value` is a certpin error with `code`.
 * @throws Never: any value is accepted.
 * @example
 * ```js
 * if (isCertpinError(err, 'ERR_CERTPIN_MISMATCH')) alertSecurityTeam(err.hostname, err.peerPins)
 * ```
 */
export function isCertpinError<C extends CertpinErrorCode>(value: unknown, code: C): value is CertpinErrorOf<C>;
/**
 * @param value - Anything.
 * @param code - When given, also requires this code.
 * @throws Never.
 */
export function isCertpinError(value: unknown, code?: CertpinErrorCode): value is CertpinError {
  if (!(value instanceof Error)) return false;
  const actual = (value as { code?: unknown }).code;
  if (typeof actual !== 'string' || !CODES.has(actual)) return false;
  return code === undefined || actual === code;
}
