import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { bigintAsNumber, jsonText } from "../columns";

/** A certificate request (StartSigningRequest / StartNewKeyPairRequest) and its decision. */
@Entity({ name: "certificate_requests" })
@Index("ix_certificate_requests_application", ["applicationId"])
@Index("ix_certificate_requests_state", ["state"])
export class CertificateRequestEntity {
  @PrimaryColumn({ name: "id", type: "varchar", length: 36 })
  id!: string;

  @Column({ name: "application_id", type: "varchar", length: 36 })
  applicationId!: string;

  @Column({ name: "group_name", type: "varchar", length: 64 })
  groupName!: string;

  @Column({ name: "certificate_type", type: "varchar", length: 64 })
  certificateTypeName!: string;

  @Column({ name: "kind", type: "varchar", length: 16 })
  kind!: string;

  @Column({ name: "state", type: "varchar", length: 16 })
  state!: string;

  @Column({ name: "requested_by", type: "varchar", length: 256 })
  requestedBy!: string;

  @Column({ name: "requester_thumbprint", type: "varchar", length: 64, nullable: true })
  requesterThumbprint!: string | null;

  /** The PKCS#10 request (base64) of a signing request. */
  @Column({ name: "csr", type: "text", nullable: true })
  csr!: string | null;

  @Column({ name: "subject_name", type: "varchar", length: 1100, nullable: true })
  subjectName!: string | null;

  @Column({ name: "domain_names", type: "text", transformer: jsonText })
  domainNames!: string[];

  @Column({ name: "private_key_format", type: "varchar", length: 8, nullable: true })
  privateKeyFormat!: string | null;

  /**
   * The generated private key (PKCS#8) and the requester's password, sealed with the data
   * folder's secret key. The password is wiped once FinishRequest has delivered the key; the key
   * stays sealed for offline bundles (`export`) until its certificate is revoked.
   */
  @Column({ name: "sealed_private_key", type: "text", nullable: true })
  sealedPrivateKey!: string | null;

  @Column({ name: "sealed_key_password", type: "text", nullable: true })
  sealedKeyPassword!: string | null;

  @Column({ name: "serial", type: "varchar", length: 64, nullable: true })
  serialHex!: string | null;

  @Column({ name: "created_at", type: "bigint", transformer: bigintAsNumber })
  createdAtMs!: number;

  @Column({ name: "decided_by", type: "varchar", length: 256, nullable: true })
  decidedBy!: string | null;

  @Column({ name: "decided_at", type: "bigint", nullable: true, transformer: bigintAsNumber })
  decidedAtMs!: number | null;

  @Column({ name: "reject_reason", type: "varchar", length: 512, nullable: true })
  rejectReason!: string | null;
}
