import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { bigintAsNumber } from "../columns";

/** A person or tool that signs in to the GDS, with the roles it holds. */
@Entity({ name: "users" })
export class UserEntity {
  @PrimaryColumn({ name: "name", type: "varchar", length: 128 })
  name!: string;

  /** `scrypt$N$r$p$salt$hash`; null for a user that signs in with a certificate only. */
  @Column({ name: "password_hash", type: "varchar", length: 512, nullable: true })
  passwordHash!: string | null;

  /** Comma-separated role names. */
  @Column({ name: "roles", type: "varchar", length: 512 })
  roles!: string;

  /** SHA-1 thumbprint (hex) of the X509 user-token certificate bound to this user. */
  @Index("uq_users_certificate", { unique: true })
  @Column({ name: "certificate_thumbprint", type: "varchar", length: 64, nullable: true })
  certificateThumbprint!: string | null;

  @Column({ name: "created_at", type: "bigint", transformer: bigintAsNumber })
  createdAtMs!: number;
}
