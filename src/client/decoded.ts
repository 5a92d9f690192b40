import { X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { thumbprintOf } from "../domain/thumbprint";

/** A certificate with what an application needs to know of it; `der` is the certificate itself. */
export interface CertificateInfo {
  der: Buffer;
  /** SHA-1 thumbprint, hex lower case: how OPC UA names certificates. */
  thumbprint: string;
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** The URI of the SubjectAltName (an application certificate's ApplicationUri), if any. */
  applicationUri: string | null;
  /** True for a CA certificate. */
  isCa: boolean;
}

/** A CRL with its issuer and validity; `der` is the CRL itself. */
export interface CrlInfo {
  der: Buffer;
  issuer: string;
  thisUpdate: Date;
  /** When the issuer promises the next CRL; null when the CRL names none. */
  nextUpdate: Date | null;
  /** Serial numbers (hex, lower case) of the revoked certificates. */
  revokedSerialNumbers: string[];
}

/** Decodes a DER certificate. */
export function decodeCertificate(der: Buffer): CertificateInfo {
  const c = new X509Certificate(der);
  const uri = /(?:^|,\s*)URI:([^,]+)/.exec(c.subjectAltName ?? "");
  return {
    der,
    thumbprint: thumbprintOf(der),
    subject: c.subject.replace(/\n/g, ", "),
    issuer: c.issuer.replace(/\n/g, ", "),
    serialNumber: c.serialNumber.toLowerCase(),
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    applicationUri: uri ? uri[1].trim() : null,
    isCa: c.ca,
  };
}

/** Decodes a DER CRL. */
export function decodeCrl(der: Buffer): CrlInfo {
  const crl = new x509.X509Crl(new Uint8Array(der));
  return {
    der,
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate ?? null,
    revokedSerialNumbers: crl.entries.map((e) => e.serialNumber.toLowerCase()),
  };
}

/** A group's trust list (OPC 10000-12 §7.8.2) decoded: trusted and issuer certificates, each with their CRLs. */
export interface TrustList {
  trustedCertificates: CertificateInfo[];
  trustedCrls: CrlInfo[];
  issuerCertificates: CertificateInfo[];
  issuerCrls: CrlInfo[];
}

/** Decodes the four DER lists of a TrustListDataType. */
export function decodeTrustList(lists: { trustedCertificates: Buffer[]; trustedCrls: Buffer[]; issuerCertificates: Buffer[]; issuerCrls: Buffer[] }): TrustList {
  return {
    trustedCertificates: lists.trustedCertificates.map(decodeCertificate),
    trustedCrls: lists.trustedCrls.map(decodeCrl),
    issuerCertificates: lists.issuerCertificates.map(decodeCertificate),
    issuerCrls: lists.issuerCrls.map(decodeCrl),
  };
}
