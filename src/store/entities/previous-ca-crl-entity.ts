import { Entity, PrimaryColumn } from "typeorm";
import { CrlColumns } from "./ca-state-entity";

/**
 * The CRL of a CA that a rollover superseded and that still signs CRLs for the certificates it
 * issued, until it retires. The current CA's CRL stays in `ca_states`.
 */
@Entity({ name: "previous_ca_crls" })
export class PreviousCaCrlEntity extends CrlColumns {
  @PrimaryColumn({ name: "group_name", type: "varchar", length: 64 })
  groupName!: string;

  @PrimaryColumn({ name: "certificate_type", type: "varchar", length: 64 })
  certificateTypeName!: string;

  /** Serial number (lowercase hex) of the superseded CA certificate. */
  @PrimaryColumn({ name: "ca_serial", type: "varchar", length: 64 })
  caSerialHex!: string;
}
