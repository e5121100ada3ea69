// A minimal DER reader and writer: just what certpin needs to read CSRs (which Node cannot parse) and
// to build keys' CSRs and test or demo certificates. Not a general ASN.1 library.

export interface DerNode {
  tag: number;
  /** Offset of the first content byte within `buf`. */
  start: number;
  /** Offset just past the last content byte. */
  end: number;
  /** Offset of the tag byte (so `buf.subarray(headerStart, end)` is the whole TLV). */
  headerStart: number;
  buf: Uint8Array;
}

export class DerError extends Error {}

export function readNode(buf: Uint8Array, offset = 0): DerNode {
  if (offset + 2 > buf.length) throw new DerError('truncated DER');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  let len = buf[offset + 1]!;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || pos + n > buf.length) throw new DerError('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i]!;
    pos += n;
  }
  if (pos + len > buf.length) throw new DerError('truncated DER');
  return { tag, start: pos, end: pos + len, headerStart: offset, buf };
}

export function children(node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  let pos = node.start;
  while (pos < node.end) {
    const child = readNode(node.buf, pos);
    if (child.end > node.end) throw new DerError('DER child overruns its parent');
    out.push(child);
    pos = child.end;
  }
  return out;
}

export function bytesOf(node: DerNode): Uint8Array {
  return node.buf.subarray(node.headerStart, node.end);
}

export function contentOf(node: DerNode): Uint8Array {
  return node.buf.subarray(node.start, node.end);
}

export function decodeOid(content: Uint8Array): string {
  const parts: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (parts.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        parts.push(first, value - first * 40);
      } else {
        parts.push(value);
      }
      value = 0;
    }
  }
  return parts.join('.');
}

// ---- writing ----

function encodeLength(len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(len);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(contents);
  return Buffer.concat([Uint8Array.of(tag), encodeLength(body.length), body]);
}

export const seq = (...items: Uint8Array[]): Uint8Array => tlv(0x30, ...items);
export const set = (...items: Uint8Array[]): Uint8Array => tlv(0x31, ...items);
export const explicit = (n: number, item: Uint8Array): Uint8Array => tlv(0xa0 + n, item);
export const nullValue = (): Uint8Array => Uint8Array.of(0x05, 0x00);
export const octetString = (b: Uint8Array): Uint8Array => tlv(0x04, b);
export const bitString = (b: Uint8Array): Uint8Array => tlv(0x03, Uint8Array.of(0), b);
export const utf8String = (s: string): Uint8Array => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printableString = (s: string): Uint8Array => tlv(0x13, Buffer.from(s, 'latin1'));
export const ia5String = (s: string): Uint8Array => tlv(0x16, Buffer.from(s, 'latin1'));
export const boolean = (v: boolean): Uint8Array => Uint8Array.of(0x01, 0x01, v ? 0xff : 0x00);

export function integer(value: number | bigint | Uint8Array): Uint8Array {
  let bytes: number[];
  if (value instanceof Uint8Array) {
    bytes = [...value];
    while (bytes.length > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) bytes.shift();
  } else {
    let v = BigInt(value);
    bytes = [];
    do {
      bytes.unshift(Number(v & 0xffn));
      v >>= 8n;
    } while (v > 0n);
  }
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(0x02, Uint8Array.from(bytes));
}

export function oid(dotted: string): Uint8Array {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [parts[0]! * 40 + parts[1]!];
  for (const part of parts.slice(2)) {
    const group: number[] = [];
    let v = part;
    do {
      group.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < group.length - 1; i++) group[i]! |= 0x80;
    out.push(...group);
  }
  return tlv(0x06, Uint8Array.from(out));
}

export function time(date: Date): Uint8Array {
  const iso = date.toISOString();
  const compact = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z';
  const year = date.getUTCFullYear();
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(compact.slice(2), 'latin1'));
  return tlv(0x18, Buffer.from(compact, 'latin1'));
}
