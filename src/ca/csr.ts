import "reflect-metadata";
import { createPublicKey, KeyObject, verify, webcrypto } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";
import type { ParsedCsrFacts } from "../domain/csr-policy";
import { GdsError, invalidArgument } from "../domain/errors";
import { readPlainCsr, type PlainCsr } from "./csr-reader";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const subtle = webcrypto.subtle as unknown as SubtleCrypto;

/** A PKCS#10 certificate request as the GDS sees it. */
export interface ParsedCsr extends ParsedCsrFacts {
  publicKeySpki: Buffer;
  /** The requested public key, usable as the `publicKey` of CertificateAuthority.issueApplicationCertificate. */
  publicKey: KeyObject;
}

/** Limits for untrusted input: a CSR is a few kilobytes even with RSA-16384 and many names. */
export const CSR_LIMITS = {
  maxDerBytes: 32 * 1024,
  maxSubjectLength: 1024,
  maxSubjectAttributes: 32,
  maxNames: 64,
  maxUriLength: 1024,
  maxDnsLength: 253,
} as const;

const PARSE_OPTIONS: x509.ParseOptions = {
  berOptions: { maxDepth: 32, maxNodes: 4096, maxContentLength: CSR_LIMITS.maxDerBytes },
};

const OID_SAN = "2.5.29.17";

/** Signature algorithm OIDs that carry no WebCrypto hash name (x509 reports them by OID). */
const HASH_OF_SIGNATURE_OID: Record<string, string> = {
  "1.2.840.113549.1.1.2": "MD2",
  "1.2.840.113549.1.1.3": "MD4",
  "1.2.840.113549.1.1.4": "MD5",
  "1.2.840.113549.1.1.5": "SHA-1",
  "1.3.14.3.2.29": "SHA-1",
  "1.2.840.10040.4.3": "SHA-1",
  "1.2.840.10045.4.1": "SHA-1",
};

const EC_CURVES: Record<string, { webName: string; bits: number }> = {
  prime256v1: { webName: "P-256", bits: 256 },
  secp384r1: { webName: "P-384", bits: 384 },
  secp521r1: { webName: "P-521", bits: 521 },
};

// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Parses and checks the framing of a DER PKCS#10 certificate request (OPC 10000-12 §7.9.4
 * CertificateRequest). Only decodes and verifies the proof of possession: whether the GDS signs it is
 * decided by checkCertificateRequest (src/domain/csr-policy.ts).
 *
 * Every failure — garbage, truncated or trailing bytes, another DER structure, a key WebCrypto cannot
 * use, a subject or SubjectAltName with control characters or beyond CSR_LIMITS — rejects with
 * GdsError "InvalidArgument" and a plain message, never another exception type.
 */
export async function parseCertificateRequest(der: Buffer): Promise<ParsedCsr> {
  return parseOrExplain(der, true);
}

/** parseCertificateRequest without the lean reader: what it is compared with in tests. */
export async function parseCertificateRequestGeneral(der: Buffer): Promise<ParsedCsr> {
  return parseOrExplain(der, false);
}

async function parseOrExplain(der: Buffer, lean: boolean): Promise<ParsedCsr> {
  try {
    return await parse(der, lean);
  } catch (e) {
    if (e instanceof GdsError) throw e;
    throw invalidArgument("the CertificateRequest is not a valid DER-encoded PKCS#10 certification request");
  }
}

async function parse(der: Buffer, lean: boolean): Promise<ParsedCsr> {
  if (!((der as unknown) instanceof Uint8Array)) throw invalidArgument("the CertificateRequest must be a ByteString");
  if (der.length === 0) throw invalidArgument("the CertificateRequest is empty");
  if (der.length > CSR_LIMITS.maxDerBytes) throw invalidArgument(`the CertificateRequest is larger than ${CSR_LIMITS.maxDerBytes} bytes`);
  const bytes = new Uint8Array(der); // a private copy: the caller's buffer may be a slice of a pool
  if (Buffer.from(bytes.subarray(0, 10)).toString("latin1").startsWith("-----BEGIN")) {
    throw invalidArgument("the CertificateRequest must be DER, not PEM");
  }
  checkOuterFraming(bytes);

  const plain = lean ? readPlainCsr(bytes, CSR_LIMITS) : null;
  const fast = plain && (await fromPlainCsr(plain));
  return fast || parseGeneral(bytes);
}

/**
 * Reads a request with @peculiar/x509: every form the lean reader leaves alone, and the reference
 * it is tested against. `bytes` is the caller's checked, private copy.
 */
async function parseGeneral(bytes: Uint8Array<ArrayBuffer>): Promise<ParsedCsr> {
  const csr = new x509.Pkcs10CertificateRequest(bytes.buffer, PARSE_OPTIONS);

  const subject = checkSubject(csr);

  const publicKeySpki = Buffer.from(csr.publicKey.rawData);
  const { keyAlgorithm, keyBits, publicKey } = await importPublicKey(publicKeySpki);

  const signatureHash = hashOfSignature(csr);
  const signatureValid = await csr.verify().catch(() => false);

  const { uris, dnsNames, ipAddresses } = subjectAltNames(csr);

  return { subject, publicKey, publicKeySpki, keyAlgorithm, keyBits, signatureHash, signatureValid, uris, dnsNames, ipAddresses };
}

const NODE_HASH: Record<PlainCsr["signatureHash"], string> = { "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" };

/**
 * The ParsedCsr of a request the lean reader understood. The key is made from its modulus and
 * exponent (OpenSSL's SPKI decoder costs ten times as much; WebCrypto's importKey seven times).
 * Null when OpenSSL refuses the key: the general path then decides.
 */
async function fromPlainCsr(csr: PlainCsr): Promise<ParsedCsr | null> {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: { kty: "RSA", n: Buffer.from(csr.modulus).toString("base64url"), e: Buffer.from(csr.exponent).toString("base64url") }, format: "jwk" });
  } catch {
    return null;
  }
  // In the thread pool: the main thread of a busy server is what bounds the issuance rate.
  const signatureValid = await new Promise<boolean>((resolve) => {
    try {
      verify(NODE_HASH[csr.signatureHash], csr.signedBytes, publicKey, csr.signature, (error, valid) => resolve(!error && valid));
    } catch {
      resolve(false);
    }
  });
  return {
    subject: csr.subject,
    publicKey,
    publicKeySpki: Buffer.from(csr.publicKeySpki),
    keyAlgorithm: "RSA",
    keyBits: csr.keyBits,
    signatureHash: csr.signatureHash,
    signatureValid,
    uris: csr.uris,
    dnsNames: csr.dnsNames,
    ipAddresses: csr.ipAddresses,
  };
}

/** The input is exactly one DER SEQUENCE with a definite length: nothing missing, nothing after it. */
function checkOuterFraming(bytes: Uint8Array): void {
  if (bytes[0] !== 0x30) throw invalidArgument("the CertificateRequest is not a DER SEQUENCE");
  if (bytes.length < 2) throw invalidArgument("the CertificateRequest is truncated");
  let length = bytes[1];
  let header = 2;
  if (length === 0x80) throw invalidArgument("the CertificateRequest uses an indefinite length (BER, not DER)");
  if (length > 0x80) {
    const count = length & 0x7f;
    if (count > 4) throw invalidArgument("the CertificateRequest has an impossible length");
    if (bytes.length < 2 + count) throw invalidArgument("the CertificateRequest is truncated");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[2 + i];
    header = 2 + count;
  }
  if (header + length > bytes.length) throw invalidArgument("the CertificateRequest is truncated");
  if (header + length < bytes.length) throw invalidArgument("the CertificateRequest has trailing bytes after its DER structure");
}

function checkSubject(csr: x509.Pkcs10CertificateRequest): string {
  const subject = csr.subject;
  if (subject.length > CSR_LIMITS.maxSubjectLength) {
    throw invalidArgument(`the certificate request's subject is longer than ${CSR_LIMITS.maxSubjectLength} characters`);
  }
  const rdns = csr.subjectName.toJSON();
  let attributes = 0;
  for (const rdn of rdns) {
    for (const values of Object.values(rdn)) {
      for (const value of values) {
        attributes++;
        if (CONTROL.test(value)) throw invalidArgument("the certificate request's subject contains control characters");
      }
    }
  }
  if (attributes === 0) throw invalidArgument("the certificate request's subject is empty");
  if (attributes > CSR_LIMITS.maxSubjectAttributes) {
    throw invalidArgument(`the certificate request's subject has more than ${CSR_LIMITS.maxSubjectAttributes} attributes`);
  }
  // The CA takes the subject as text: it must read back to the same names.
  let reparsed: unknown;
  try {
    reparsed = new x509.Name(subject).toJSON();
  } catch {
    reparsed = null;
  }
  if (JSON.stringify(reparsed) !== JSON.stringify(rdns)) {
    throw invalidArgument("the certificate request's subject cannot be represented as a distinguished name string");
  }
  return subject;
}

/** The key of a request as a KeyObject; WebCrypto must accept it too (the keys this path took before it issued from KeyObjects). */
async function importPublicKey(spki: Buffer): Promise<{ keyAlgorithm: string; keyBits: number; publicKey: KeyObject }> {
  let key;
  try {
    key = createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch {
    throw invalidArgument("the certificate request's public key cannot be decoded");
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  const view = new Uint8Array(spki);
  if (type === "rsa") {
    await subtle.importKey("spki", view, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["verify"]);
    return { keyAlgorithm: "RSA", keyBits: details.modulusLength ?? 0, publicKey: key };
  }
  if (type === "ec") {
    const curve = EC_CURVES[details.namedCurve ?? ""];
    if (!curve) throw invalidArgument(`the certificate request's EC curve ${details.namedCurve ?? "(unnamed)"} is not supported`);
    await subtle.importKey("spki", view, { name: "ECDSA", namedCurve: curve.webName }, true, ["verify"]);
    return { keyAlgorithm: "EC", keyBits: curve.bits, publicKey: key };
  }
  if (type === "ed25519") {
    await subtle.importKey("spki", view, { name: "Ed25519" }, true, ["verify"]);
    return { keyAlgorithm: "Ed25519", keyBits: 256, publicKey: key };
  }
  throw invalidArgument(`the certificate request's ${type ?? "unknown"} key type is not supported`);
}

function hashOfSignature(csr: x509.Pkcs10CertificateRequest): string {
  const algorithm = csr.signatureAlgorithm as Algorithm & { hash?: { name?: string } | string };
  const hash = typeof algorithm.hash === "string" ? algorithm.hash : algorithm.hash?.name;
  if (hash) return hash.toUpperCase();
  return HASH_OF_SIGNATURE_OID[algorithm.name] ?? algorithm.name;
}

function subjectAltNames(csr: x509.Pkcs10CertificateRequest): { uris: string[]; dnsNames: string[]; ipAddresses: string[] } {
  const uris: string[] = [];
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const extensions = csr.getExtensions(OID_SAN);
  if (extensions.length > 1) throw invalidArgument("the certificate request has more than one SubjectAltName extension");
  if (extensions.length === 0) return { uris, dnsNames, ipAddresses };
  const san = new x509.SubjectAlternativeNameExtension(extensions[0].rawData, PARSE_OPTIONS);
  const names = san.names.toJSON();
  if (names.length > CSR_LIMITS.maxNames) throw invalidArgument(`the certificate request's SubjectAltName has more than ${CSR_LIMITS.maxNames} names`);
  for (const { type, value } of names) {
    if (type !== "url" && type !== "dns" && type !== "ip") continue; // e-mail, DN, UPN, ...: not used by OPC UA
    if (CONTROL.test(value) || /\s/.test(value) || value.length === 0) {
      throw invalidArgument(`the certificate request's SubjectAltName holds an empty ${type} name or one with whitespace or control characters`);
    }
    if (type === "url") {
      if (value.length > CSR_LIMITS.maxUriLength) throw invalidArgument(`a URI in the certificate request is longer than ${CSR_LIMITS.maxUriLength} characters`);
      uris.push(value);
    } else if (type === "dns") {
      if (value.length > CSR_LIMITS.maxDnsLength) throw invalidArgument(`a DNS name in the certificate request is longer than ${CSR_LIMITS.maxDnsLength} characters`);
      dnsNames.push(value);
    } else {
      if (isIP(value) === 0) throw invalidArgument("the certificate request's SubjectAltName holds an IP address that is neither IPv4 nor IPv6");
      ipAddresses.push(value);
    }
  }
  return { uris, dnsNames, ipAddresses };
}
