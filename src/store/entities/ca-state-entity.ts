import { Column, Entity, PrimaryColumn } from "typeorm";
import { bigintAsNumber } from "../columns";

/** The columns of a CA's current CRL, shared by the current CA's and the superseded CAs' tables. */
export abstract class CrlColumns {
  @Column({ name: "crl_number", type: "bigint", transformer: bigintAsNumber })
  crlNumber!: number;

  /** DER of the current CRL, base64. */
  @Column({ name: "crl", type: "text" })
  crl!: string;

  @Column({ name: "crl_this_update", type: "bigint", transformer: bigintAsNumber })
  crlThisUpdateMs!: number;

  @Column({ name: "crl_next_update", type: "bigint", transformer: bigintAsNumber })
  crlNextUpdateMs!: number;
}

/**
 * The revocation state of one CA (group and type): its current CRL and CRL number. Kept in the
 * database so that every instance publishes the same CRL and numbers never go back.
 */
@Entity({ name: "ca_states" })
export class CaStateEntity extends CrlColumns {
  @PrimaryColumn({ name: "group_name", type: "varchar", length: 64 })
  groupName!: string;

  @PrimaryColumn({ name: "certificate_type", type: "varchar", length: 64 })
  certificateTypeName!: string;
}
