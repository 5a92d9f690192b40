import { formatApplicationId } from "../domain/application-id";
import { DEFAULT_APPLICATION_GROUP, groupByName } from "../domain/certificate-groups";
import type { Clock } from "../domain/clock";
import { GdsError, invalidArgument } from "../domain/errors";
import { derToPem, pemBlocks } from "../domain/pem";
import { thumbprintOf } from "../domain/thumbprint";
import type { CertificateService } from "./certificate-service";
import type { ApplicationStore, AuditLog, CertificateAuthorityPort, CertificateStore, IssuedCertificateRow, SecretSealer } from "./ports";

/** Encodings of an offline bundle. */
export const BUNDLE_FORMATS = ["pem", "der", "pfx"] as const;
export type BundleFormat = (typeof BUNDLE_FORMATS)[number];

/** One file of a bundle: its path inside the bundle, its content, whether it is secret, what it is. */
export interface BundleFile {
  name: string;
  content: Buffer;
  secret: boolean;
  description: string;
}

/** An offline bundle for an air-gapped device. */
export interface ExportBundle {
  applicationId: string;
  applicationUri: string;
  serialHex: string;
  notAfterMs: number;
  format: BundleFormat;
  /** True when the GDS generated the key and it is in the bundle (encrypted). */
  includesPrivateKey: boolean;
  files: BundleFile[];
}

/**
 * Offline bundles (`opcua-gds export`): an application's current certificate, its issuer chain,
 * the private key where the GDS generated it (only encrypted with the operator's password), and its
 * group's trust list (certificates and CRLs), with a README.txt that says what each file is.
 */
export class ExportService {
  constructor(
    private readonly applications: ApplicationStore,
    private readonly store: CertificateStore,
    private readonly certificates: CertificateService,
    private readonly authorities: CertificateAuthorityPort,
    private readonly secrets: SecretSealer,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  private current(rows: IssuedCertificateRow[], now: number): IssuedCertificateRow | null {
    const valid = rows.filter((r) => r.groupName === DEFAULT_APPLICATION_GROUP.name && r.revokedAtMs === null && r.notBeforeMs <= now && now < r.notAfterMs);
    return valid.sort((a, b) => b.notBeforeMs - a.notBeforeMs)[0] ?? null;
  }

  /** The GDS-generated private key (PKCS#8 DER) of a certificate, if the GDS generated and still keeps it. */
  private async keptKey(row: IssuedCertificateRow): Promise<Buffer | null> {
    const request = row.requestId ? await this.store.getRequest(row.requestId) : null;
    return request?.kind === "NewKeyPair" && request.sealedPrivateKey ? this.secrets.open(request.sealedPrivateKey) : null;
  }

  /** Builds the bundle of an application's current certificate; `password` encrypts a kept private key. */
  async exportBundle(actor: string, applicationId: string, format: BundleFormat, password: string | null): Promise<ExportBundle> {
    if (!BUNDLE_FORMATS.includes(format)) throw invalidArgument(`--format "${String(format).slice(0, 16)}" is not pem, der or pfx`);
    const app = await this.applications.get(applicationId);
    if (!app) throw new GdsError("NotFound", `no application with id ${formatApplicationId(applicationId)}`);
    const now = this.clock.nowMs();
    const row = this.current(await this.store.certificatesOf(applicationId), now);
    if (!row) throw new GdsError("NotFound", `${app.applicationUri} has no valid certificate from this GDS: issue one first (StartSigningRequest or StartNewKeyPairRequest)`);
    const key = await this.keptKey(row);
    if (key && !password) throw invalidArgument("the GDS generated this application's private key: it leaves only encrypted, give a password with --password-stdin");
    if (!key && format === "pfx") throw invalidArgument("the GDS has no private key of this certificate (it was requested with a CSR: the key stays on the device), so there is no PFX to make: use --format pem or der");
    // trustListContent first: it picks up a CA renewed by another process.
    const trust = await this.certificates.trustListContent(groupByName(row.groupName));
    // The chain of the CA that signed this certificate (an old one during a rollover).
    const signer = this.authorities.signerBySerial(row.groupName, row.certificateTypeName, row.issuerSerialHex) ?? this.authorities.signer(row.groupName, row.certificateTypeName);
    const chain = [signer.caCertificateDer, ...signer.chainDer];

    const files: BundleFile[] = [];
    const certificate = (der: Buffer, name: string, description: string) =>
      files.push(format === "pem" ? { name: `${name}.pem`, content: Buffer.from(derToPem(der, "CERTIFICATE")), secret: false, description } : { name: `${name}.der`, content: der, secret: false, description });
    const crl = (der: Buffer, name: string, description: string) =>
      files.push(format === "pem" ? { name: `${name}.crl.pem`, content: Buffer.from(derToPem(der, "X509 CRL")), secret: false, description } : { name: `${name}.crl`, content: der, secret: false, description });

    certificate(row.der, "certificate", `the application certificate of ${app.applicationUri} (serial ${row.serialHex}, valid until ${new Date(row.notAfterMs).toISOString()})`);
    if (format === "pem") {
      files.push({ name: "chain.pem", content: Buffer.from(chain.map((d) => derToPem(d, "CERTIFICATE")).join("")), secret: false, description: "the issuer chain of the certificate, nearest issuer first (the GDS's CA, then its parents)" });
    } else {
      chain.forEach((der, i) => certificate(der, `chain/${i + 1}-${thumbprintOf(der)}`, `issuer ${i + 1} of the certificate (1 = the CA that signed it)`));
    }
    if (key) {
      const encryptedPem = await this.authorities.packagePrivateKey("PEM", key, row.der, chain, password);
      if (format === "pem") files.push({ name: "private-key.pem", content: encryptedPem, secret: true, description: "the private key the GDS generated for the certificate: encrypted PKCS#8 (PBES2, AES-256), PEM; the password is the one given to export" });
      if (format === "der") files.push({ name: "private-key.p8", content: pemBlocks(encryptedPem.toString("latin1"))[0].der, secret: true, description: "the private key the GDS generated for the certificate: encrypted PKCS#8 (PBES2, AES-256), DER; the password is the one given to export" });
      if (format === "pfx") {
        files.push({ name: "application.pfx", content: await this.authorities.packagePrivateKey("PFX", key, row.der, chain, password), secret: true, description: "PKCS#12 with the private key the GDS generated, the certificate and its issuer chain, protected by the password given to export" });
      }
    }
    for (const der of trust.trustedCertificates) certificate(der, `trusted/certs/${thumbprintOf(der)}`, "a trusted CA certificate of the trust list (put it in the device's trusted certificates)");
    for (const der of trust.trustedCrls) crl(der, `trusted/crl/${thumbprintOf(der)}`, "the current CRL of a trusted CA (put it beside the trusted certificates; replace it before its nextUpdate)");
    for (const der of trust.issuerCertificates) certificate(der, `issuers/certs/${thumbprintOf(der)}`, "an issuer certificate of the trust list (needed to complete chains, not trusted by itself)");
    for (const der of trust.issuerCrls) crl(der, `issuers/crl/${thumbprintOf(der)}`, "the CRL of an issuer certificate");

    files.push({ name: "README.txt", content: Buffer.from(readme(app.applicationUri, formatApplicationId(applicationId), row, format, key !== null, files, now)), secret: false, description: "this file" });
    await this.audit.append({
      actor,
      action: "BundleExported",
      subject: `${formatApplicationId(applicationId)} ${app.applicationUri}`,
      outcome: "Good",
      details: `serial=${row.serialHex} format=${format} privateKey=${key ? "included (encrypted)" : "none"}`,
    });
    return { applicationId, applicationUri: app.applicationUri, serialHex: row.serialHex, notAfterMs: row.notAfterMs, format, includesPrivateKey: key !== null, files };
  }
}

function readme(applicationUri: string, applicationId: string, row: IssuedCertificateRow, format: BundleFormat, withKey: boolean, files: BundleFile[], nowMs: number): string {
  const lines = [
    `Offline certificate bundle for ${applicationUri}`,
    `ApplicationId ${applicationId}, certificate serial ${row.serialHex}, valid ${new Date(row.notBeforeMs).toISOString()} to ${new Date(row.notAfterMs).toISOString()}.`,
    `Written by opcua-gds export (format ${format}) at ${new Date(nowMs).toISOString()}.`,
    withKey
      ? "The private key was generated by the GDS; it is encrypted with the password given to export. Keep this bundle as secret as the key."
      : "No private key: the certificate was requested with a CSR, so its key never left the device.",
    "The CRLs expire (nextUpdate): bring a fresh bundle to the device before then.",
    "",
    "Files:",
    ...files.map((f) => `  ${f.name.padEnd(62)} ${f.description}`),
    "",
    "Check with openssl, e.g.:",
    format === "pem" ? "  openssl verify -CAfile chain.pem certificate.pem" : "  openssl x509 -inform DER -in certificate.der -noout -text",
    ...(withKey && format === "pfx" ? ["  openssl pkcs12 -in application.pfx -noout   (asks for the password)"] : []),
    ...(withKey && format !== "pfx" ? [`  openssl pkey ${format === "der" ? "-inform DER -in private-key.p8" : "-in private-key.pem"} -noout   (asks for the password)`] : []),
    "",
  ];
  return lines.join("\n");
}
