import { X509Certificate, createPublicKey, type KeyObject } from "node:crypto";
import { StatusCodes } from "node-opcua";
import { StatusFault } from "../status-fault";

/**
 * The checks a push-managed server makes on a certificate it is given (UpdateCertificate,
 * AddCertificate, a written TrustList), following the validation steps of OPC 10000-4 §6.1.3 that
 * apply to a certificate without a channel: structure, validity, ApplicationUri, issuer chain.
 * Each failure throws a StatusFault with the code that step prescribes.
 */

/** Parses a DER certificate; anything else is Bad_CertificateInvalid. */
export function parseCertificate(der: Buffer, what: string): X509Certificate {
  if (!der || der.length === 0) throw new StatusFault(StatusCodes.BadCertificateInvalid, `${what} is empty`);
  if (der.subarray(0, 10).toString("latin1").startsWith("-----BEGIN")) throw new StatusFault(StatusCodes.BadCertificateInvalid, `${what} must be DER, not PEM`);
  try {
    const certificate = new X509Certificate(der);
    // node:crypto accepts trailing bytes; a certificate is exactly its DER.
    if (!certificate.raw.equals(der)) throw new Error("trailing bytes");
    return certificate;
  } catch {
    throw new StatusFault(StatusCodes.BadCertificateInvalid, `${what} is not a DER X.509 certificate`);
  }
}

/** The URIs of a certificate's SubjectAltName. */
export function uriNamesOf(certificate: X509Certificate): string[] {
  const san = certificate.subjectAltName ?? "";
  return [...san.matchAll(/(?:^|,\s*)URI:([^,]+)/g)].map((m) => m[1].trim());
}

/** The DNS names and IP addresses of a certificate's SubjectAltName. */
export function hostNamesOf(certificate: X509Certificate): { dnsNames: string[]; ipAddresses: string[] } {
  const san = certificate.subjectAltName ?? "";
  return {
    dnsNames: [...san.matchAll(/(?:^|,\s*)DNS:([^,]+)/g)].map((m) => m[1].trim()),
    ipAddresses: [...san.matchAll(/(?:^|,\s*)IP Address:([^,]+)/g)].map((m) => m[1].trim()),
  };
}

function inValidity(certificate: X509Certificate, nowMs: number): boolean {
  return nowMs >= Date.parse(certificate.validFrom) && nowMs <= Date.parse(certificate.validTo);
}

function isSelfSigned(certificate: X509Certificate): boolean {
  return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}

function issuedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

/** The most certificates an issuer chain may hold: deeper chains are refused, not followed. */
const MAX_CHAIN_DEPTH = 8;

/**
 * Checks a new application instance certificate for this server (UpdateCertificate):
 * - an application certificate, not a CA, with an RSA key of at least 2048 bits (the security
 *   policies this server offers): Bad_CertificateUseNotAllowed / Bad_CertificatePolicyCheckFailed;
 * - its SubjectAltName holds `applicationUri`: Bad_CertificateUriInvalid;
 * - now within its validity: Bad_CertificateTimeInvalid;
 * - each issuer in `issuers` parses (Bad_CertificateInvalid) and the chain from the certificate
 *   links up to a self-signed root, through `issuers` and the CA certificates the server already
 *   knows (`knownCas`): a missing link is Bad_CertificateChainIncomplete, a bad signature
 *   Bad_SecurityChecksFailed, an issuer that is not a CA Bad_CertificateIssuerUseNotAllowed, an
 *   issuer out of its validity Bad_CertificateIssuerTimeInvalid.
 */
export function checkApplicationCertificate(certificate: X509Certificate, issuersDer: Buffer[], knownCas: Buffer[], applicationUri: string, nowMs: number): X509Certificate[] {
  if (certificate.ca) throw new StatusFault(StatusCodes.BadCertificateUseNotAllowed, "the certificate is a CA certificate, not an application instance certificate");
  const key = certificate.publicKey;
  if (key.asymmetricKeyType !== "rsa" || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw new StatusFault(StatusCodes.BadCertificatePolicyCheckFailed, "the certificate needs an RSA key of at least 2048 bits for this server's security policies");
  }
  if (!uriNamesOf(certificate).includes(applicationUri)) {
    throw new StatusFault(StatusCodes.BadCertificateUriInvalid, `the certificate's SubjectAltName does not hold this server's ApplicationUri ${applicationUri}`);
  }
  if (!inValidity(certificate, nowMs)) throw new StatusFault(StatusCodes.BadCertificateTimeInvalid, "the certificate is not valid now");
  const issuers = issuersDer.map((der, i) => parseCertificate(der, `issuer certificate ${i}`));
  const candidates = [...issuers, ...knownCas.flatMap((der) => tryParse(der))];
  const chain: X509Certificate[] = [];
  let current = certificate;
  for (let depth = 0; !isSelfSigned(current); depth++) {
    if (depth >= MAX_CHAIN_DEPTH) throw new StatusFault(StatusCodes.BadCertificateChainIncomplete, `the issuer chain is deeper than ${MAX_CHAIN_DEPTH}`);
    const named = candidates.filter((c) => current.checkIssued(c));
    if (named.length === 0) throw new StatusFault(StatusCodes.BadCertificateChainIncomplete, `no issuer certificate for ${current.issuer.replace(/\n/g, ", ")} was given or is in the trust list`);
    const issuer = named.find((c) => current.verify(c.publicKey));
    if (!issuer) throw new StatusFault(StatusCodes.BadSecurityChecksFailed, `the signature of ${current.subject.replace(/\n/g, ", ")} does not verify with its issuer's key`);
    if (!issuer.ca) throw new StatusFault(StatusCodes.BadCertificateIssuerUseNotAllowed, `the issuer ${issuer.subject.replace(/\n/g, ", ")} is not a CA`);
    if (!inValidity(issuer, nowMs)) throw new StatusFault(StatusCodes.BadCertificateIssuerTimeInvalid, `the issuer ${issuer.subject.replace(/\n/g, ", ")} is not valid now`);
    chain.push(issuer);
    current = issuer;
  }
  return chain;
}

function tryParse(der: Buffer): X509Certificate[] {
  try {
    return [new X509Certificate(der)];
  } catch {
    return [];
  }
}

/** True when `key` (private or public) is the key of `certificate`. */
export function keyMatches(certificate: X509Certificate, key: KeyObject): boolean {
  const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" });
  try {
    const publicOf = key.type === "private" ? createPublicKey(key) : key;
    return spki(publicOf).equals(spki(certificate.publicKey));
  } catch {
    return false;
  }
}

/** A CA certificate: one that may appear as an issuer. */
export function isCaCertificate(der: Buffer): boolean {
  return tryParse(der).some((c) => c.ca);
}

/** True when `der` is self-signed or its issuer is among `cas` (signature verified). */
export function chainsTo(der: Buffer, cas: Buffer[]): boolean {
  const [certificate] = tryParse(der);
  if (!certificate) return false;
  if (isSelfSigned(certificate)) return true;
  return cas.some((ca) => tryParse(ca).some((c) => issuedBy(certificate, c)));
}
