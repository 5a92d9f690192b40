import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import type { LocalizedName } from "../../domain/application";
import { bigintAsNumber, jsonText } from "../columns";

/** One registered application (an ApplicationRecordDataType plus bookkeeping). */
@Entity({ name: "applications" })
export class ApplicationEntity {
  @PrimaryColumn({ name: "id", type: "varchar", length: 36 })
  id!: string;

  @Index("uq_applications_uri", { unique: true })
  @Column({ name: "application_uri", type: "varchar", length: 1024 })
  applicationUri!: string;

  @Column({ name: "application_type", type: "integer" })
  applicationType!: number;

  @Column({ name: "product_uri", type: "varchar", length: 1024 })
  productUri!: string;

  /**
   * Text of the first ApplicationName: the one QueryApplications and QueryServers filter on. Indexed
   * by migration 1764700000000 (text_pattern_ops on PostgreSQL, which a decorator cannot say).
   */
  @Column({ name: "default_name", type: "varchar", length: 512 })
  defaultName!: string;

  @Column({ name: "names", type: "text", transformer: jsonText })
  names!: LocalizedName[];

  @Column({ name: "discovery_urls", type: "text", transformer: jsonText })
  discoveryUrls!: string[];

  /** Capabilities as ",DA,HD," so that an SQL LIKE can narrow the capability filter. */
  @Column({ name: "capabilities", type: "varchar", length: 2200 })
  capabilities!: string;

  @Index("uq_applications_record_id", { unique: true })
  @Column({ name: "record_id", type: "bigint", transformer: bigintAsNumber })
  recordId!: number;

  @Column({ name: "created_at", type: "bigint", transformer: bigintAsNumber })
  createdAtMs!: number;

  @Column({ name: "updated_at", type: "bigint", transformer: bigintAsNumber })
  updatedAtMs!: number;
}
