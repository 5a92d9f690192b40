import { Column, Entity, PrimaryColumn, type ValueTransformer } from "typeorm";
import { bigintAsNumber } from "../columns";

/** DER kept as base64 text (portable between SQLite and PostgreSQL). */
const base64Der: ValueTransformer = {
  to: (value: Buffer | null | undefined) => (value === undefined ? undefined : value === null ? null : value.toString("base64")),
  from: (value: string | null) => (value === null || value === undefined ? null : Buffer.from(value, "base64")),
};

/** A list of DER certificates as a JSON array of base64 strings. */
const base64DerList: ValueTransformer = {
  to: (value: Buffer[] | undefined) => (value === undefined ? undefined : JSON.stringify(value.map((b) => b.toString("base64")))),
  from: (value: string | null) => (value ? (JSON.parse(value) as string[]).map((s) => Buffer.from(s, "base64")) : []),
};

/** How the GDS pushes to one application: endpoint, credentials (sealed), pinned device certificate. */
@Entity({ name: "push_settings" })
export class PushSettingsEntity {
  @PrimaryColumn({ name: "application_id", type: "varchar", length: 36 })
  applicationId!: string;

  @Column({ name: "endpoint_url", type: "varchar", length: 1024, nullable: true })
  endpointUrl!: string | null;

  @Column({ name: "user_name", type: "varchar", length: 256, nullable: true })
  userName!: string | null;

  /** Sealed with the data folder's secret key, never in clear. */
  @Column({ name: "sealed_password", type: "text", nullable: true })
  sealedPassword!: string | null;

  @Column({ name: "user_certificate", type: "text", nullable: true, transformer: base64Der })
  userCertificateDer!: Buffer | null;

  @Column({ name: "sealed_user_key", type: "text", nullable: true })
  sealedUserPrivateKey!: string | null;

  @Column({ name: "pinned_thumbprint", type: "varchar", length: 64, nullable: true })
  pinnedThumbprint!: string | null;

  @Column({ name: "extra_trusted", type: "text", transformer: base64DerList })
  extraTrustedCertificates!: Buffer[];

  /** Weekdays and time ranges in which pushes may start (domain/maintenance-window); null: any time. */
  @Column({ name: "maintenance_window", type: "varchar", length: 512, nullable: true })
  maintenanceWindow!: string | null;

  /** IANA time zone of the window; null: UTC. */
  @Column({ name: "maintenance_time_zone", type: "varchar", length: 64, nullable: true })
  maintenanceTimeZone!: string | null;

  /** False: the scheduler does not renew this device by itself; null (never set) counts as true. */
  @Column({ name: "auto_renew", type: "boolean", nullable: true })
  autoRenew!: boolean | null;

  @Column({ name: "updated_at", type: "bigint", transformer: bigintAsNumber })
  updatedAtMs!: number;
}
