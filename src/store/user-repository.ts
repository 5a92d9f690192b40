import type { Clock } from "../domain/clock";
import { GdsError } from "../domain/errors";
import { parseRoles } from "../domain/roles";
import type { AuditEntry, UserRow, UserStore } from "../services/ports";
import { writeAudit } from "./audit-writer";
import type { Database } from "./database";
import { UserEntity } from "./entities/user-entity";
import { EntitySql } from "./entity-sql";
import { isUniqueViolation } from "./unique-violation";

function toRow(e: UserEntity): UserRow {
  return {
    name: e.name,
    passwordHash: e.passwordHash,
    roles: parseRoles(e.roles),
    certificateThumbprint: e.certificateThumbprint,
    createdAtMs: e.createdAtMs,
  };
}

/** UserStore on TypeORM. */
export class UserRepository implements UserStore {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async insert(user: UserRow, audit: AuditEntry): Promise<void> {
    try {
      await this.db.transaction(async (m) => {
        if (await m.exists(UserEntity, { where: { name: user.name } })) {
          throw new GdsError("EntryExists", `user "${user.name}" already exists`);
        }
        await m.insert(UserEntity, { ...user, roles: user.roles.join(",") });
        await writeAudit(m, audit, this.clock.nowMs());
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new GdsError("EntryExists", `user "${user.name}" or its certificate already exists`);
      throw e;
    }
  }

  async remove(name: string, audit: AuditEntry): Promise<boolean> {
    return this.db.transaction(async (m) => {
      const result = await m.delete(UserEntity, { name });
      if (!result.affected) return false;
      await writeAudit(m, audit, this.clock.nowMs());
      return true;
    });
  }

  /** The user whose `column` holds `value`, in plain SQL: roles are read on every method call. */
  private async userWhere(column: "name" | "certificate_thumbprint", value: string): Promise<UserRow | null> {
    const [e] = await EntitySql.of(this.db.dataSource, UserEntity).where(this.db.reader, column, value);
    return e ? toRow(e) : null;
  }

  async get(name: string): Promise<UserRow | null> {
    return this.userWhere("name", name);
  }

  async getByCertificate(thumbprint: string): Promise<UserRow | null> {
    return this.userWhere("certificate_thumbprint", thumbprint.toLowerCase());
  }

  async list(): Promise<UserRow[]> {
    const rows = await this.db.dataSource.manager.find(UserEntity, { order: { name: "ASC" } });
    return rows.map(toRow);
  }

  async count(): Promise<number> {
    return this.db.dataSource.manager.count(UserEntity);
  }
}
