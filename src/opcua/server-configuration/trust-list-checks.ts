import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { StatusCodes } from "node-opcua";
import { StatusFault } from "../status-fault";
import type { TrustListContent } from "../trust-list-file";
import { parseCertificate } from "./certificate-checks";

const crypto = webcrypto as unknown as Crypto;

/** Bounds for untrusted input: a CRL or certificate of a trust list is a few kilobytes at most. */
const PARSE_OPTIONS: x509.ParseOptions = { berOptions: { maxDepth: 32, maxNodes: 1 << 20, maxContentLength: 16 * 1024 * 1024 } };

/**
 * Checks a whole new trust list before it replaces the old one (OPC 10000-12 §7.8.2.3: "If an
 * invalid Certificate is found the Server shall return an error and shall not replace the existing
 * TrustList"). Every certificate must be a DER X.509 certificate, every issuer certificate a CA,
 * and every CRL a DER CRL signed by a CA certificate of the new list. Validity periods are not
 * checked: an expired certificate is a suppressible error (OPC 10000-4 §6.1.3), and a list in the
 * middle of a CA rollover holds one. A failure answers Bad_CertificateInvalid naming the entry.
 */
export async function checkTrustListContent(content: TrustListContent): Promise<void> {
  const trusted = content.trustedCertificates.map((der, i) => parseCertificate(der, `TrustedCertificates[${i}]`));
  const issuers = content.issuerCertificates.map((der, i) => parseCertificate(der, `IssuerCertificates[${i}]`));
  issuers.forEach((c, i) => {
    if (!c.ca) throw new StatusFault(StatusCodes.BadCertificateInvalid, `IssuerCertificates[${i}] is not a CA certificate`);
  });
  const cas = [...trusted, ...issuers].filter((c) => c.ca).map((c) => new x509.X509Certificate(new Uint8Array(c.raw)));
  for (const [name, crls] of [
    ["TrustedCrls", content.trustedCrls],
    ["IssuerCrls", content.issuerCrls],
  ] as const) {
    for (const [i, der] of crls.entries()) await checkCrl(der, `${name}[${i}]`, cas);
  }
}

async function checkCrl(der: Buffer, what: string, cas: x509.X509Certificate[]): Promise<void> {
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(new Uint8Array(der), PARSE_OPTIONS);
    if (crl.rawData.byteLength !== der.length) throw new Error("trailing bytes");
  } catch {
    throw new StatusFault(StatusCodes.BadCertificateInvalid, `${what} is not a DER X.509 CRL`);
  }
  const issuers = cas.filter((ca) => ca.subjectName.toString() === crl.issuerName.toString());
  for (const issuer of issuers) {
    if (await crl.verify({ publicKey: issuer }, crypto).catch(() => false)) return;
  }
  throw new StatusFault(StatusCodes.BadCertificateInvalid, `${what} is not signed by a CA certificate of the trust list`);
}

/** Keeps the first of equal items (by content), in order. */
export function distinct(items: Buffer[]): Buffer[] {
  const seen = new Set<string>();
  return items.filter((b) => {
    const key = b.toString("base64");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `content` with `extra` added to each list (the retained trust of the owner), without repeats. */
export function withRetained(content: TrustListContent, extra: Partial<TrustListContent>): TrustListContent {
  return {
    trustedCertificates: distinct([...content.trustedCertificates, ...(extra.trustedCertificates ?? [])]),
    trustedCrls: distinct([...content.trustedCrls, ...(extra.trustedCrls ?? [])]),
    issuerCertificates: distinct([...content.issuerCertificates, ...(extra.issuerCertificates ?? [])]),
    issuerCrls: distinct([...content.issuerCrls, ...(extra.issuerCrls ?? [])]),
  };
}
