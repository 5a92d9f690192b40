import { DerError, DerReader, oidText, TAG, type DerElement } from "./der";
import { IA5_NAME, NAME_OF_ATTRIBUTE, PLAIN_VALUE } from "./name-text";

/**
 * A lean reader of the PKCS#10 requests OPC UA applications usually send: an RSA key, a
 * SHA-2 signature, a subject of plain `TYPE=value` attributes and at most a SubjectAltName of URIs,
 * DNS names and IP addresses. It returns null for anything else (other key types, escapes, other
 * attributes or extensions, non-DER encodings, anything beyond CSR_LIMITS), and csr.ts then reads
 * the request with @peculiar/x509 as before; what it does return is exactly what that path finds
 * (test/unit/csr-reader.test.ts compares them, also on corrupted requests).
 */

/** What the lean reader finds in a request: the facts for the policy and what the signature check needs. */
export interface PlainCsr {
  /** RFC 4514 text, as @peculiar/x509 writes it. */
  subject: string;
  /** The SubjectPublicKeyInfo as it appears in the request. */
  publicKeySpki: Uint8Array;
  modulus: Uint8Array;
  exponent: Uint8Array;
  keyBits: number;
  signatureHash: "SHA-256" | "SHA-384" | "SHA-512";
  /** The DER CertificationRequestInfo: what the signature covers. */
  signedBytes: Uint8Array;
  signature: Uint8Array;
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
}

/** The limits of csr.ts, repeated here so that the lean reader never accepts more. */
export interface PlainCsrLimits {
  maxSubjectLength: number;
  maxSubjectAttributes: number;
  maxNames: number;
  maxUriLength: number;
  maxDnsLength: number;
}

const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const SUBJECT_ALT_NAME = "2.5.29.17";

const HASH_OF_SIGNATURE: Record<string, PlainCsr["signatureHash"]> = {
  "1.2.840.113549.1.1.11": "SHA-256",
  "1.2.840.113549.1.1.12": "SHA-384",
  "1.2.840.113549.1.1.13": "SHA-512",
};

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Reads a request in the plain form described above; null when it is not in that form. */
export function readPlainCsr(bytes: Uint8Array, limits: PlainCsrLimits): PlainCsr | null {
  try {
    return read(bytes, limits);
  } catch (e) {
    if (e instanceof DerError || e instanceof TypeError) return null;
    throw e;
  }
}

class NotPlain extends DerError {}

function need(condition: boolean): void {
  if (!condition) throw new NotPlain("not in the plain form");
}

function read(bytes: Uint8Array, limits: PlainCsrLimits): PlainCsr {
  const top = new DerReader(bytes);
  const request = top.inside(top.next(TAG.SEQUENCE));
  top.end();

  const infoElement = request.next(TAG.SEQUENCE);
  const info = request.inside(infoElement);
  const algorithm = request.inside(request.next(TAG.SEQUENCE));
  const signatureBits = request.content(request.next(TAG.BIT_STRING));
  request.end();

  const signatureHash = HASH_OF_SIGNATURE[oidText(algorithm.content(algorithm.next(TAG.OID)))];
  need(signatureHash !== undefined);
  need(algorithm.content(algorithm.next(TAG.NULL)).length === 0);
  algorithm.end();
  need(signatureBits.length > 1 && signatureBits[0] === 0);

  const version = info.content(info.next(TAG.INTEGER));
  need(version.length === 1 && version[0] === 0);
  const subject = readSubject(info, info.next(TAG.SEQUENCE), limits);
  const spkiElement = info.next(TAG.SEQUENCE);
  const key = readRsaKey(info, spkiElement);
  const names = info.done ? { uris: [], dnsNames: [], ipAddresses: [] } : readAttributes(info, info.next(0xa0), limits);
  info.end();

  return {
    subject,
    publicKeySpki: info.encoding(spkiElement),
    ...key,
    signatureHash,
    signedBytes: request.encoding(infoElement),
    signature: signatureBits.subarray(1),
    ...names,
  };
}

function readSubject(outer: DerReader, element: DerElement, limits: PlainCsrLimits): string {
  const rdns = outer.inside(element);
  const parts: string[] = [];
  while (!rdns.done) {
    const set = rdns.inside(rdns.next(TAG.SET));
    const attribute = set.inside(set.next(TAG.SEQUENCE));
    set.end(); // one attribute per RDN
    const name = NAME_OF_ATTRIBUTE.get(oidText(attribute.content(attribute.next(TAG.OID))));
    need(name !== undefined);
    const valueElement = attribute.next();
    attribute.end();
    const raw = attribute.content(valueElement);
    let value: string;
    if (valueElement.tag === TAG.UTF8_STRING) value = utf8.decode(raw);
    else if (valueElement.tag === TAG.PRINTABLE_STRING || valueElement.tag === TAG.IA5_STRING) value = asciiText(raw);
    else throw new NotPlain("other string type");
    need(PLAIN_VALUE.test(value));
    parts.push(`${name}=${value}`);
  }
  need(parts.length > 0 && parts.length <= limits.maxSubjectAttributes);
  const subject = parts.join(", ");
  need(subject.length <= limits.maxSubjectLength);
  return subject;
}

/** Text of bytes that are all printable ASCII (spaces included). */
function asciiText(raw: Uint8Array): string {
  for (const b of raw) need(b >= 0x20 && b <= 0x7e);
  return Buffer.from(raw).toString("latin1");
}

/** A minimal positive INTEGER's magnitude. */
function positiveInteger(reader: DerReader): Uint8Array {
  const content = reader.content(reader.next(TAG.INTEGER));
  need(content.length > 0 && !(content[0] & 0x80));
  if (content[0] === 0) {
    need(content.length > 1 && (content[1] & 0x80) !== 0);
    return content.subarray(1);
  }
  return content;
}

function readRsaKey(outer: DerReader, element: DerElement): { modulus: Uint8Array; exponent: Uint8Array; keyBits: number } {
  const spki = outer.inside(element);
  const algorithm = spki.inside(spki.next(TAG.SEQUENCE));
  need(oidText(algorithm.content(algorithm.next(TAG.OID))) === RSA_ENCRYPTION);
  need(algorithm.content(algorithm.next(TAG.NULL)).length === 0);
  algorithm.end();
  const bits = spki.content(spki.next(TAG.BIT_STRING));
  spki.end();
  need(bits.length > 1 && bits[0] === 0);
  const keyReader = new DerReader(bits, 1);
  const key = keyReader.inside(keyReader.next(TAG.SEQUENCE));
  keyReader.end();
  const modulus = positiveInteger(key);
  const exponent = positiveInteger(key);
  key.end();
  const keyBits = (modulus.length - 1) * 8 + (32 - Math.clz32(modulus[0]));
  // Real keys only: anything odd is left to OpenSSL's own decoder in the general path.
  need(keyBits >= 512 && keyBits <= 16384 && (modulus[modulus.length - 1] & 1) === 1);
  need(exponent.length <= 4 && (exponent[exponent.length - 1] & 1) === 1 && !(exponent.length === 1 && exponent[0] < 3));
  return { modulus, exponent, keyBits };
}

function readAttributes(outer: DerReader, element: DerElement, limits: PlainCsrLimits): { uris: string[]; dnsNames: string[]; ipAddresses: string[] } {
  const attributes = outer.inside(element);
  const none = { uris: [], dnsNames: [], ipAddresses: [] };
  if (attributes.done) return none;
  const attribute = attributes.inside(attributes.next(TAG.SEQUENCE));
  attributes.end(); // only the extension request
  need(oidText(attribute.content(attribute.next(TAG.OID))) === EXTENSION_REQUEST);
  const values = attribute.inside(attribute.next(TAG.SET));
  attribute.end();
  const extensions = values.inside(values.next(TAG.SEQUENCE));
  values.end();
  let names: ReturnType<typeof readSubjectAltName> | null = null;
  while (!extensions.done) {
    const extension = extensions.inside(extensions.next(TAG.SEQUENCE));
    const oid = oidText(extension.content(extension.next(TAG.OID)));
    if (extension.peek(TAG.BOOLEAN)) {
      const critical = extension.content(extension.next(TAG.BOOLEAN));
      need(critical.length === 1 && critical[0] === 0xff);
    }
    const value = extension.next(TAG.OCTET_STRING);
    extension.end();
    need(oid === SUBJECT_ALT_NAME && names === null); // other extensions: the general path
    names = readSubjectAltName(new DerReader(extension.bytes, value.contentStart, value.end), limits);
  }
  return names ?? none;
}

function readSubjectAltName(value: DerReader, limits: PlainCsrLimits): { uris: string[]; dnsNames: string[]; ipAddresses: string[] } {
  const generalNames = value.inside(value.next(TAG.SEQUENCE));
  value.end();
  const uris: string[] = [];
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  let count = 0;
  while (!generalNames.done) {
    const name = generalNames.next();
    const raw = generalNames.content(name);
    need(++count <= limits.maxNames);
    if (name.tag === 0x86 || name.tag === 0x82) {
      const text = asciiText(raw);
      need(IA5_NAME.test(text));
      if (name.tag === 0x86) {
        need(text.length <= limits.maxUriLength);
        uris.push(text);
      } else {
        need(text.length <= limits.maxDnsLength);
        dnsNames.push(text);
      }
    } else if (name.tag === 0x87 && (raw.length === 4 || raw.length === 16)) {
      ipAddresses.push(raw.length === 4 ? raw.join(".") : ipv6Text(raw));
    } else {
      throw new NotPlain("other GeneralName");
    }
  }
  return { uris, dnsNames, ipAddresses };
}

/** IPv6 text as @peculiar/x509 writes it: lower-case groups, the first longest run of two or more zero groups as "::". */
function ipv6Text(raw: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((raw[i] << 8) | raw[i + 1]).toString(16));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${groups.slice(bestStart + bestLength).join(":")}`;
}
