import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { bigintAsNumber } from "../columns";

/** A certificate the GDS signed: the row exists before the certificate leaves the GDS. */
@Entity({ name: "issued_certificates" })
@Index("ix_issued_certificates_application", ["applicationId", "groupName", "certificateTypeName"])
// Renewal planning: current certificates only (see migration 1764600000000-renewal-planning).
@Index("ix_issued_current_renewal", ["groupName", "certificateTypeName", "renewalAtMs", "notAfterMs", "applicationId"], { where: "superseded = FALSE" })
@Index("ix_issued_current_revoked", ["groupName", "certificateTypeName", "notAfterMs", "applicationId"], { where: "superseded = FALSE AND revoked_at IS NOT NULL" })
@Index("ix_issued_current_issuer", ["groupName", "certificateTypeName", "issuerSerialHex", "notAfterMs", "applicationId"], { where: "superseded = FALSE" })
export class IssuedCertificateEntity {
  /** Serial number, hex, lower case. */
  @PrimaryColumn({ name: "serial", type: "varchar", length: 64 })
  serialHex!: string;

  @Index("uq_issued_certificates_thumbprint", { unique: true })
  @Column({ name: "thumbprint", type: "varchar", length: 64 })
  thumbprint!: string;

  @Column({ name: "application_id", type: "varchar", length: 36 })
  applicationId!: string;

  @Column({ name: "application_uri", type: "varchar", length: 1024 })
  applicationUri!: string;

  @Column({ name: "group_name", type: "varchar", length: 64 })
  groupName!: string;

  @Column({ name: "certificate_type", type: "varchar", length: 64 })
  certificateTypeName!: string;

  /** Serial (hex) of the CA certificate that signed it. */
  @Column({ name: "issuer_serial", type: "varchar", length: 64 })
  issuerSerialHex!: string;

  @Column({ name: "request_id", type: "varchar", length: 36, nullable: true })
  requestId!: string | null;

  @Column({ name: "not_before", type: "bigint", transformer: bigintAsNumber })
  notBeforeMs!: number;

  @Index("ix_issued_certificates_not_after")
  @Column({ name: "not_after", type: "bigint", transformer: bigintAsNumber })
  notAfterMs!: number;

  @Index("ix_issued_certificates_renewal")
  @Column({ name: "renewal_at", type: "bigint", transformer: bigintAsNumber })
  renewalAtMs!: number;

  @Column({ name: "revoked_at", type: "bigint", nullable: true, transformer: bigintAsNumber })
  revokedAtMs!: number | null;

  @Column({ name: "revocation_reason", type: "varchar", length: 256, nullable: true })
  revocationReason!: string | null;

  /** A newer certificate was issued to the same application, group and type (set by a database trigger). */
  @Column({ name: "superseded", type: "boolean", default: false, insert: false, transformer: { to: (v: unknown) => v, from: (v: unknown) => (v === null || v === undefined ? v : Boolean(v)) } })
  superseded!: boolean;

  /** DER, base64. */
  @Column({ name: "der", type: "text" })
  der!: string;
}
