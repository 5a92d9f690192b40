import { Column, Entity, Index, PrimaryGeneratedColumn } from "typeorm";
import { bigintAsNumber } from "../columns";

/** One audited change: who did what to which subject, and how it ended. */
@Entity({ name: "audit_records" })
export class AuditRecordEntity {
  @PrimaryGeneratedColumn({ name: "seq", type: "integer" })
  seq!: number;

  @Index("ix_audit_records_at")
  @Column({ name: "at", type: "bigint", transformer: bigintAsNumber })
  atMs!: number;

  @Column({ name: "actor", type: "varchar", length: 256 })
  actor!: string;

  @Column({ name: "action", type: "varchar", length: 64 })
  action!: string;

  @Column({ name: "subject", type: "varchar", length: 1100 })
  subject!: string;

  @Column({ name: "outcome", type: "varchar", length: 64 })
  outcome!: string;

  @Column({ name: "details", type: "text", nullable: true })
  details!: string | null;
}
