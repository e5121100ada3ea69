// What one `tls.connect` call asks for, read the way Node reads it, for both kinds of connection the
// hook makes (connect.ts, pinned.ts).
import type { ConnectionOptions } from 'node:tls';

/** `tls.connect(options[, cb])`, `(port[, host][, options][, cb])` and `(path[, options][, cb])`, as one options object. */
export function normalizeConnectArgs(args: unknown[]): [ConnectionOptions, (() => void) | undefined] {
  const callback = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as () => void) : undefined;
  const [first, second, third] = args;
  if (first !== null && typeof first === 'object') return [{ ...(first as ConnectionOptions) }, callback];
  const options: ConnectionOptions & { path?: string } = {};
  if (typeof first === 'string' && !/^\d+$/.test(first)) options.path = first;
  else if (first !== undefined && typeof first !== 'function') {
    options.port = Number(first);
    if (typeof second === 'string') options.host = second;
  }
  const extra = second !== null && typeof second === 'object' ? second : third !== null && typeof third === 'object' ? third : undefined;
  if (extra) Object.assign(options, extra);
  return [options, callback];
}

/** The names Node may check the certificate against (`_tls_wrap.js`: servername, host, the socket's host, 'localhost'). */
export function candidateNames(options: ConnectionOptions & { hostname?: unknown }): string[] {
  const names: string[] = [];
  for (const value of [options.servername, options.host, options.hostname, (options.socket as { _host?: unknown } | undefined)?._host]) {
    if (typeof value === 'string' && value !== '') names.push(value);
  }
  if (names.length === 0) names.push('localhost');
  return names;
}
