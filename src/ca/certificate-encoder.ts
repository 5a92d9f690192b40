import { createHash, KeyObject, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { bitString, DerReader, objectIdentifier, octetString, sequence, tlv, TAG, time, unsignedInteger } from "./der";
import { ATTRIBUTE_TYPES, IA5_NAME, PLAIN_VALUE } from "./name-text";

/**
 * Encodes application instance certificates directly in DER. Every certificate comes out byte for
 * byte as @peculiar/x509's X509CertificateGenerator made it before (test/unit/certificate-encoder.test.ts
 * compares them), at a fraction of the cost: only serial, validity, subject, key, SAN and SKI vary,
 * and the parts that are the same for every certificate of a CA are encoded once. Input outside the
 * plain forms handled here (a subject with escapes, an IP address in an unusual spelling, a name
 * with non-ASCII characters) is encoded by @peculiar/x509 as before.
 */

/** The attribute types whose values @peculiar/x509 writes as IA5String. */
const IA5_TYPES = new Set(["E", "DC"]);

const ATTRIBUTE_OIDS = new Map(Object.entries(ATTRIBUTE_TYPES).map(([name, oid]) => [name, objectIdentifier(oid)]));

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const ASCII = /^[\u0020-\u007e]*$/;

/**
 * DER Name of an RFC 4514 subject, as `new x509.Name(subject)` encodes it: E and DC values as
 * IA5String, others as PrintableString when they fit, else UTF8String. Subjects that are not a
 * plain list of `TYPE=value` (escapes, quotes, multi-valued RDNs, OIDs) go to @peculiar/x509.
 */
export function encodeName(subject: string): Uint8Array {
  return plainName(subject) ?? new Uint8Array(new x509.Name(subject).toArrayBuffer());
}

function plainName(subject: string): Buffer | null {
  const rdns: Buffer[] = [];
  for (const part of subject.split(/, ?/)) {
    const eq = part.indexOf("=");
    if (eq <= 0) return null;
    const type = part.slice(0, eq);
    const value = part.slice(eq + 1);
    const oid = ATTRIBUTE_OIDS.get(type);
    if (!oid || !PLAIN_VALUE.test(value)) return null;
    let encoded: Buffer;
    if (IA5_TYPES.has(type)) {
      if (!ASCII.test(value)) return null;
      encoded = tlv(TAG.IA5_STRING, Buffer.from(value, "latin1"));
    } else if (PRINTABLE.test(value)) {
      encoded = tlv(TAG.PRINTABLE_STRING, Buffer.from(value, "latin1"));
    } else {
      encoded = tlv(TAG.UTF8_STRING, Buffer.from(value, "utf8"));
    }
    rdns.push(tlv(TAG.SET, sequence(oid, encoded)));
  }
  return sequence(...rdns);
}

// ---------------------------------------------------------------------------------------------
// SubjectAltName

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** The octets of an IPv4 address in dotted decimal or an IPv6 address of hex groups with at most one "::"; null otherwise. */
function ipOctets(text: string): Uint8Array | null {
  const v4 = IPV4.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    return parts.every((p) => p <= 255) ? Uint8Array.from(parts) : null;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groupsOf(halves[0]);
  const right = halves.length === 2 ? groupsOf(halves[1]) : [];
  const missing = halves.length === 2 ? 8 - left.length - right.length : 0;
  const groups = [...left, ...Array<string>(Math.max(missing, 0)).fill("0"), ...right];
  if (missing < 0 || groups.length !== 8 || !groups.every((g) => HEX_GROUP.test(g))) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

/**
 * The SubjectAltName extension (not critical): the ApplicationUri, then the DNS names, then the IP
 * addresses, as @peculiar/x509's SubjectAlternativeNameExtension encodes them.
 */
export function encodeSubjectAltName(applicationUri: string, dnsNames: string[], ipAddresses: string[]): Uint8Array {
  const names: Buffer[] = [];
  const plain = IA5_NAME.test(applicationUri) && dnsNames.every((d) => IA5_NAME.test(d));
  if (plain) {
    names.push(tlv(0x86, Buffer.from(applicationUri, "latin1")));
    for (const dns of dnsNames) names.push(tlv(0x82, Buffer.from(dns, "latin1")));
    for (const ip of ipAddresses) {
      const octets = ipOctets(ip);
      if (!octets) break;
      names.push(tlv(0x87, octets));
    }
  }
  if (!plain || names.length !== 1 + dnsNames.length + ipAddresses.length) {
    const json: x509.JsonGeneralName[] = [
      { type: "url", value: applicationUri },
      ...dnsNames.map((value) => ({ type: "dns" as const, value })),
      ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
    ];
    return new Uint8Array(new x509.SubjectAlternativeNameExtension(json).rawData);
  }
  return extension(OID_SUBJECT_ALT_NAME, false, sequence(...names));
}

// ---------------------------------------------------------------------------------------------
// Public key

const OID_SUBJECT_ALT_NAME = objectIdentifier("2.5.29.17");
const OID_SUBJECT_KEY_IDENTIFIER = objectIdentifier("2.5.29.14");
const RSA_ENCRYPTION = sequence(objectIdentifier("1.2.840.113549.1.1.1"), tlv(TAG.NULL));
const SHA256_WITH_RSA = sequence(objectIdentifier("1.2.840.113549.1.1.11"), tlv(TAG.NULL));
const TRUE = tlv(TAG.BOOLEAN, Uint8Array.of(0xff));

/** One Extension: extnID, critical only when true (DEFAULT FALSE), extnValue. */
function extension(oid: Uint8Array, critical: boolean, value: Uint8Array): Buffer {
  return critical ? sequence(oid, TRUE, octetString(value)) : sequence(oid, octetString(value));
}

/**
 * The DER SubjectPublicKeyInfo of a public key as OpenSSL exports it. RSA keys are written from
 * their modulus and exponent (exporting through OpenSSL's encoder costs a third of a millisecond).
 */
export async function subjectPublicKeyInfo(publicKey: CryptoKey | KeyObject): Promise<Uint8Array> {
  const key = publicKey instanceof KeyObject ? publicKey : KeyObject.from(publicKey as unknown as webcrypto.CryptoKey);
  if (key.asymmetricKeyType === "rsa") {
    const jwk = key.export({ format: "jwk" });
    const rsaPublicKey = sequence(unsignedInteger(Buffer.from(jwk.n!, "base64url")), unsignedInteger(Buffer.from(jwk.e!, "base64url")));
    return sequence(RSA_ENCRYPTION, bitString(rsaPublicKey));
  }
  return key.export({ format: "der", type: "spki" });
}

/** The SubjectKeyIdentifier extension: SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1). */
export function encodeSubjectKeyIdentifier(spki: Uint8Array): Uint8Array {
  const outer = new DerReader(spki);
  const info = outer.inside(outer.next(TAG.SEQUENCE));
  info.next(TAG.SEQUENCE);
  const bits = info.content(info.next(TAG.BIT_STRING)).subarray(1);
  return extension(OID_SUBJECT_KEY_IDENTIFIER, false, octetString(createHash("sha1").update(bits).digest()));
}

// ---------------------------------------------------------------------------------------------
// The certificate

/** What varies from one application certificate of a CA to the next. */
export interface LeafFields {
  /** Positive serial number, big-endian, its first byte non-zero. */
  serial: Uint8Array;
  notBeforeMs: number;
  notAfterMs: number;
  subject: string;
  spki: Uint8Array;
  applicationUri: string;
  dnsNames: string[];
  ipAddresses: string[];
}

/** The fixed parts of a CA's application certificates, encoded once. */
export interface LeafTemplate {
  /** The issuer Name, as @peculiar/x509 encodes the CA certificate's subject text. */
  issuer: Uint8Array;
  /** basicConstraints, keyUsage, extendedKeyUsage: the same in every certificate. */
  leadingExtensions: Uint8Array[];
  authorityKeyIdentifier: Uint8Array;
}

const VERSION_3 = tlv(0xa0, tlv(TAG.INTEGER, Uint8Array.of(2)));

/** The application certificate profile of OPC 10000-12 §7.6 (GDS-REFERENCE.md) for one CA. */
export async function leafTemplate(caCertificate: x509.X509Certificate, authorityKeyIdentifier: x509.Extension): Promise<LeafTemplate> {
  const usages = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment;
  return {
    issuer: new Uint8Array(new x509.Name(caCertificate.subject).toArrayBuffer()),
    leadingExtensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    ].map((e) => new Uint8Array(e.rawData)),
    authorityKeyIdentifier: new Uint8Array(authorityKeyIdentifier.rawData),
  };
}

/** The DER TBSCertificate of an application certificate signed with RSA/SHA-256. */
export function encodeTbsCertificate(template: LeafTemplate, fields: LeafFields): Buffer {
  return sequence(
    VERSION_3,
    unsignedInteger(fields.serial),
    SHA256_WITH_RSA,
    template.issuer,
    sequence(time(fields.notBeforeMs), time(fields.notAfterMs)),
    encodeName(fields.subject),
    fields.spki,
    tlv(
      0xa3,
      sequence(
        ...template.leadingExtensions,
        encodeSubjectAltName(fields.applicationUri, fields.dnsNames, fields.ipAddresses),
        encodeSubjectKeyIdentifier(fields.spki),
        template.authorityKeyIdentifier,
      ),
    ),
  );
}

/** The DER Certificate of a TBSCertificate and its RSA/SHA-256 signature. */
export function encodeCertificate(tbs: Uint8Array, signature: Uint8Array): Buffer {
  return sequence(tbs, SHA256_WITH_RSA, bitString(signature));
}
