import { X509Certificate } from "node:crypto";
import { invalidArgument } from "./errors";
import { thumbprintOf } from "./thumbprint";

/** What an operator checks of a certificate before trusting it. */
export interface CertificateSummary {
  thumbprint: string;
  subject: string;
  issuer: string;
  selfSigned: boolean;
  /** The URI in its SubjectAltName (an OPC UA ApplicationUri), if any. */
  applicationUri: string | null;
  notBefore: string;
  notAfter: string;
}

/** Summarises a DER certificate; InvalidArgument when it does not parse. */
export function summarizeCertificate(der: Buffer): CertificateSummary {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch {
    throw invalidArgument("the certificate is not a DER X.509 certificate");
  }
  const uri = /(?:^|,\s*)URI:([^,]+)/.exec(certificate.subjectAltName ?? "");
  return {
    thumbprint: thumbprintOf(der),
    subject: certificate.subject.replace(/\n/g, ", "),
    issuer: certificate.issuer.replace(/\n/g, ", "),
    selfSigned: certificate.subject === certificate.issuer && certificate.checkIssued(certificate),
    applicationUri: uri ? uri[1].trim() : null,
    notBefore: new Date(certificate.validFrom).toISOString(),
    notAfter: new Date(certificate.validTo).toISOString(),
  };
}

/** RSA modulus size of a DER certificate's public key; 0 for other keys or when it does not parse. */
export function rsaKeyBitsOf(der: Buffer): number {
  try {
    return new X509Certificate(der).publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  } catch {
    return 0;
  }
}
