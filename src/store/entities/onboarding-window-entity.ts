import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import { bigintAsNumber } from "../columns";

/** A period in which unknown devices may enrol themselves (their requests always wait for approval). */
@Entity({ name: "onboarding_windows" })
export class OnboardingWindowEntity {
  @PrimaryGeneratedColumn({ name: "id", type: "integer" })
  id!: number;

  @Column({ name: "opened_at", type: "bigint", transformer: bigintAsNumber })
  openedAtMs!: number;

  @Column({ name: "closes_at", type: "bigint", transformer: bigintAsNumber })
  closesAtMs!: number;

  @Column({ name: "opened_by", type: "varchar", length: 256 })
  openedBy!: string;

  /** Set when closed before its time. */
  @Column({ name: "closed_at", type: "bigint", nullable: true, transformer: bigintAsNumber })
  closedAtMs!: number | null;

  @Column({ name: "closed_by", type: "varchar", length: 256, nullable: true })
  closedBy!: string | null;
}
