import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { bigintAsNumber } from "../columns";

/**
 * One push to one device (operation, step reached, attempts, lease): the row a crashed or
 * restarted GDS resumes from. At most one queued or running job per application (partial unique index).
 */
@Entity({ name: "push_jobs" })
@Index("uq_push_jobs_active", ["applicationId"], { unique: true, where: "state IN ('queued', 'running')" })
@Index("ix_push_jobs_application", ["applicationId", "createdAtMs"])
@Index("ix_push_jobs_due", ["state", "nextAttemptAtMs"])
export class PushJobEntity {
  @PrimaryColumn({ name: "id", type: "varchar", length: 36 })
  jobId!: string;

  @Column({ name: "application_id", type: "varchar", length: 36 })
  applicationId!: string;

  /** cert, trustlist or all. */
  @Column({ name: "operation", type: "varchar", length: 16 })
  operation!: string;

  /** queued, running, succeeded or failed. */
  @Column({ name: "state", type: "varchar", length: 16 })
  state!: string;

  /** The last step completed (domain/push PUSH_STEPS). */
  @Column({ name: "step", type: "varchar", length: 32 })
  step!: string;

  @Column({ name: "attempts", type: "integer" })
  attempts!: number;

  @Column({ name: "max_attempts", type: "integer" })
  maxAttempts!: number;

  @Column({ name: "last_status", type: "varchar", length: 64, nullable: true })
  lastStatus!: string | null;

  @Column({ name: "reason", type: "text", nullable: true })
  reason!: string | null;

  @Column({ name: "next_attempt_at", type: "bigint", transformer: bigintAsNumber })
  nextAttemptAtMs!: number;

  /** Instance that holds the job while it runs. */
  @Column({ name: "owner", type: "varchar", length: 128, nullable: true })
  owner!: string | null;

  @Column({ name: "lease_expires_at", type: "bigint", nullable: true, transformer: bigintAsNumber })
  leaseExpiresAtMs!: number | null;

  @Column({ name: "request_id", type: "varchar", length: 36, nullable: true })
  requestId!: string | null;

  @Column({ name: "issued_serial", type: "varchar", length: 64, nullable: true })
  issuedSerialHex!: string | null;

  @Column({ name: "apply_changes_required", type: "boolean" })
  applyChangesRequired!: boolean;

  @Column({ name: "trust_list_digest", type: "varchar", length: 64, nullable: true })
  trustListDigest!: string | null;

  @Column({ name: "created_by", type: "varchar", length: 256 })
  createdBy!: string;

  @Column({ name: "created_at", type: "bigint", transformer: bigintAsNumber })
  createdAtMs!: number;

  @Column({ name: "updated_at", type: "bigint", transformer: bigintAsNumber })
  updatedAtMs!: number;

  @Column({ name: "finished_at", type: "bigint", nullable: true, transformer: bigintAsNumber })
  finishedAtMs!: number | null;
}
