/**
 * The few DER (X.690) shapes the CA writes and reads on its hot path, without an ASN.1 object
 * model: an application certificate is a handful of fields, and building and parsing them through a
 * general ASN.1 library cost several milliseconds of JavaScript per issuance.
 */

/** Tags of the universal types used here, and the context-specific ones of GeneralName. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

// ---------------------------------------------------------------------------------------------
// Writing

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** One tag-length-value element whose content is the concatenation of `content`. */
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  let length = 0;
  for (const part of content) length += part.length;
  const header = lengthBytes(length);
  const out = Buffer.allocUnsafe(1 + header.length + length);
  out[0] = tag;
  for (let i = 0; i < header.length; i++) out[1 + i] = header[i];
  let at = 1 + header.length;
  for (const part of content) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** SEQUENCE of the given encoded elements. */
export const sequence = (...elements: Uint8Array[]): Buffer => tlv(TAG.SEQUENCE, ...elements);

/** INTEGER of a non-negative big-endian magnitude, minimal (leading zeros dropped, one added before a high bit). */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const digits = magnitude.subarray(start);
  if (digits.length === 0) return tlv(TAG.INTEGER, Uint8Array.of(0));
  return digits[0] & 0x80 ? tlv(TAG.INTEGER, Uint8Array.of(0), digits) : tlv(TAG.INTEGER, digits);
}

/** OBJECT IDENTIFIER of a dotted-decimal OID. */
export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new Error(`not an OID: ${dotted}`);
  const content: number[] = [];
  const base128 = (value: number) => {
    const groups = [value & 0x7f];
    for (let v = Math.floor(value / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    content.push(...groups);
  };
  base128(arcs[0] * 40 + arcs[1]);
  for (const arc of arcs.slice(2)) base128(arc);
  return tlv(TAG.OID, Uint8Array.from(content));
}

/** BIT STRING with no unused bits. */
export const bitString = (bytes: Uint8Array): Buffer => tlv(TAG.BIT_STRING, Uint8Array.of(0), bytes);

/** OCTET STRING. */
export const octetString = (bytes: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, bytes);

const pad = (n: number, width: number) => String(n).padStart(width, "0");

/**
 * Time as RFC 5280 §4.1.2.5 wants it: UTCTime through 2049, GeneralizedTime from 2050, whole
 * seconds, "Z". The milliseconds of `ms` are dropped.
 */
export function time(ms: number): Buffer {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}${pad(d.getUTCHours(), 2)}${pad(d.getUTCMinutes(), 2)}${pad(d.getUTCSeconds(), 2)}Z`;
  return year < 2050 ? tlv(TAG.UTC_TIME, Buffer.from(`${pad(year % 100, 2)}${rest}`, "latin1")) : tlv(TAG.GENERALIZED_TIME, Buffer.from(`${pad(year, 4)}${rest}`, "latin1"));
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Raised by DerReader for anything that is not strict DER of the expected shape. */
export class DerError extends Error {}

/** One element found by DerReader: where its header starts, its content starts and it ends. */
export interface DerElement {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/**
 * A strict reader of consecutive DER elements in `bytes[from, to)`: definite, minimal lengths,
 * single-byte tags, nothing beyond the end. Whatever it accepts, a general BER parser reads alike.
 */
export class DerReader {
  private at: number;

  constructor(
    readonly bytes: Uint8Array,
    from = 0,
    private readonly to = bytes.length,
  ) {
    this.at = from;
  }

  /** True when every element was read. */
  get done(): boolean {
    return this.at >= this.to;
  }

  /** The next element; with `tag`, it must have that tag. */
  next(tag?: number): DerElement {
    const b = this.bytes;
    const start = this.at;
    if (start + 2 > this.to) throw new DerError("truncated");
    const actual = b[start];
    if ((actual & 0x1f) === 0x1f) throw new DerError("multi-byte tag");
    if (tag !== undefined && actual !== tag) throw new DerError(`tag ${actual} instead of ${tag}`);
    let length = b[start + 1];
    let contentStart = start + 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 3) throw new DerError("indefinite or oversized length");
      if (contentStart + count > this.to) throw new DerError("truncated length");
      if (b[contentStart] === 0) throw new DerError("non-minimal length");
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + b[contentStart + i];
      if (length < 0x80) throw new DerError("non-minimal length");
      contentStart += count;
    }
    const end = contentStart + length;
    if (end > this.to) throw new DerError("truncated content");
    this.at = end;
    return { tag: actual, start, contentStart, end };
  }

  /** True when the next element has `tag` (false at the end). */
  peek(tag: number): boolean {
    return this.at < this.to && this.bytes[this.at] === tag;
  }

  /** A reader of the elements inside a constructed element. */
  inside(element: DerElement): DerReader {
    return new DerReader(this.bytes, element.contentStart, element.end);
  }

  /** The content octets of an element. */
  content(element: DerElement): Uint8Array {
    return this.bytes.subarray(element.contentStart, element.end);
  }

  /** The whole encoding (header and content) of an element. */
  encoding(element: DerElement): Uint8Array {
    return this.bytes.subarray(element.start, element.end);
  }

  /** Fails unless every element was read. */
  end(): void {
    if (!this.done) throw new DerError("unexpected trailing element");
  }
}

/** Dotted-decimal text of an OBJECT IDENTIFIER's content octets (minimal base-128 arcs). */
export function oidText(content: Uint8Array): string {
  if (content.length === 0 || content.length > 64) throw new DerError("bad OID length");
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const byte of content) {
    if (fresh && byte === 0x80) throw new DerError("non-minimal OID arc");
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError("OID arc too large");
    fresh = !(byte & 0x80);
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  if (!fresh) throw new DerError("truncated OID");
  const first = arcs[0] < 80 ? Math.floor(arcs[0] / 40) : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join(".");
}
