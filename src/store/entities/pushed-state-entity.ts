import { Column, Entity, PrimaryColumn } from "typeorm";
import { bigintAsNumber } from "../columns";

/**
 * What the GDS last pushed to one server (trust-list digest, certificate) and what the last drift
 * check read back there. A row exists once a push to the server succeeded: it is push-managed.
 */
@Entity({ name: "pushed_state" })
export class PushedStateEntity {
  @PrimaryColumn({ name: "application_id", type: "varchar", length: 36 })
  applicationId!: string;

  @Column({ name: "trust_list_digest", type: "varchar", length: 64, nullable: true })
  trustListDigest!: string | null;

  @Column({ name: "trust_list_written_at", type: "bigint", nullable: true, transformer: bigintAsNumber })
  trustListWrittenAtMs!: number | null;

  @Column({ name: "certificate_serial", type: "varchar", length: 64, nullable: true })
  certificateSerialHex!: string | null;

  @Column({ name: "certificate_thumbprint", type: "varchar", length: 64, nullable: true })
  certificateThumbprint!: string | null;

  @Column({ name: "certificate_written_at", type: "bigint", nullable: true, transformer: bigintAsNumber })
  certificateWrittenAtMs!: number | null;

  /** in-sync, drifted or unreachable; null: never checked. */
  @Column({ name: "drift_state", type: "varchar", length: 16, nullable: true })
  driftState!: string | null;

  @Column({ name: "drift_checked_at", type: "bigint", nullable: true, transformer: bigintAsNumber })
  driftCheckedAtMs!: number | null;

  @Column({ name: "drift_detail", type: "text", nullable: true })
  driftDetail!: string | null;

  @Column({ name: "observed_trust_list_digest", type: "varchar", length: 64, nullable: true })
  observedTrustListDigest!: string | null;

  @Column({ name: "presented_thumbprint", type: "varchar", length: 64, nullable: true })
  presentedThumbprint!: string | null;

  @Column({ name: "updated_at", type: "bigint", transformer: bigintAsNumber })
  updatedAtMs!: number;
}
