import { Column, Entity, PrimaryColumn } from "typeorm";
import { bigintAsNumber } from "../columns";

/**
 * A named monotonically increasing counter. Incrementing it inside a transaction locks its row, so
 * record ids are handed out in commit order: a client paging by record id never skips a record.
 */
@Entity({ name: "counters" })
export class CounterEntity {
  @PrimaryColumn({ name: "name", type: "varchar", length: 64 })
  name!: string;

  @Column({ name: "value", type: "bigint", transformer: bigintAsNumber })
  value!: number;

  /** When the counter last started again from zero (QueryApplications' LastCounterResetTime). */
  @Column({ name: "reset_at", type: "bigint", transformer: bigintAsNumber })
  resetAtMs!: number;
}
