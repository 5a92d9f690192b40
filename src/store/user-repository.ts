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

/** Users kept in UserRepository's cache at most; more are read again (names probed at logon are cached too). */
const CACHED_USERS = 1000;

/** UserStore on TypeORM. */
export class UserRepository implements UserStore {
  /**
   * SQLite: users as last read, by `column\0value`, while nothing changed them. A method call reads
   * its caller's roles; `PRAGMA data_version`, which moves with every commit of another connection
   * (a CLI command changing a user, another process), costs a fraction of reading the user again.
   * Changes through this repository clear it (`writes` tells a read that overlapped one). PostgreSQL:
   * other instances change users too, so every call reads.
   */
  private readonly cache = new Map<string, UserRow | null>();
  private cacheVersion: number | null = null;
  private writes = 0;
  /**
   * `PRAGMA data_version` as read in this turn of the event loop: the calls that arrive together
   * share one read (under load several arrive per turn, and each read costs as much as a small query).
   */
  private versionThisTurn: Promise<number> | null = null;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  private changed(): void {
    this.writes++;
    this.cache.clear();
  }

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
    } finally {
      this.changed();
    }
  }

  async remove(name: string, audit: AuditEntry): Promise<boolean> {
    try {
      return await this.db.transaction(async (m) => {
        const result = await m.delete(UserEntity, { name });
        if (!result.affected) return false;
        await writeAudit(m, audit, this.clock.nowMs());
        return true;
      });
    } finally {
      this.changed();
    }
  }

  /** The user whose `column` holds `value`, in plain SQL: roles are read on every method call. */
  private async userWhere(column: "name" | "certificate_thumbprint", value: string): Promise<UserRow | null> {
    if (this.db.kind !== "sqlite") return this.readUser(column, value);
    const version = await this.dataVersion();
    if (version !== this.cacheVersion || this.cache.size >= CACHED_USERS) {
      this.cache.clear();
      this.cacheVersion = version;
    }
    const key = `${column}\0${value}`;
    let user = this.cache.get(key);
    if (user === undefined) {
      const writes = this.writes;
      user = await this.readUser(column, value);
      if (writes === this.writes && version === this.cacheVersion) this.cache.set(key, user);
    }
    return user && { ...user, roles: [...user.roles] };
  }

  private dataVersion(): Promise<number> {
    if (!this.versionThisTurn) {
      this.versionThisTurn = (this.db.reader.query("PRAGMA data_version") as Promise<Array<{ data_version: number }>>).then(([row]) => row.data_version);
      setImmediate(() => (this.versionThisTurn = null));
    }
    return this.versionThisTurn;
  }

  private async readUser(column: "name" | "certificate_thumbprint", value: string): Promise<UserRow | null> {
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
