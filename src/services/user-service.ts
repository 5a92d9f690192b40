import type { Clock } from "../domain/clock";
import { GdsError, invalidArgument } from "../domain/errors";
import type { Role } from "../domain/roles";
import { thumbprintOf } from "../domain/thumbprint";
import { hashPassword, verifyPassword } from "./password";
import type { UserRow, UserStore } from "./ports";

const USER_NAME = /^[A-Za-z0-9._@-]{1,128}$/;

/** What is shown of a user: never the password hash. */
export interface UserSummary {
  name: string;
  roles: Role[];
  hasPassword: boolean;
  certificateThumbprint: string | null;
  createdAtMs: number;
}

function summary(u: UserRow): UserSummary {
  return { name: u.name, roles: u.roles, hasPassword: u.passwordHash !== null, certificateThumbprint: u.certificateThumbprint, createdAtMs: u.createdAtMs };
}


/** Users who sign in to the GDS and the roles they hold. */
export class UserService {
  constructor(
    private readonly users: UserStore,
    private readonly clock: Clock,
  ) {}

  /** Adds a user with a password and/or an X509 user certificate (DER). */
  async addUser(actor: string, name: string, roles: Role[], password: string | null, certificateDer: Buffer | null = null): Promise<UserSummary> {
    if (!USER_NAME.test(name)) throw invalidArgument(`user name "${name.slice(0, 40)}" may hold letters, digits and . _ @ - (1 to 128)`);
    if (password === null && certificateDer === null) throw invalidArgument("a user needs a password or a certificate");
    if (password !== null && password.length < 8) throw invalidArgument("a password needs at least 8 characters");
    const row: UserRow = {
      name,
      passwordHash: password === null ? null : await hashPassword(password),
      roles,
      certificateThumbprint: certificateDer ? thumbprintOf(certificateDer) : null,
      createdAtMs: this.clock.nowMs(),
    };
    await this.users.insert(row, { actor, action: "AddUser", subject: name, outcome: "Good", details: `roles=${roles.join(",")}` });
    return summary(row);
  }

  async removeUser(actor: string, name: string): Promise<void> {
    const removed = await this.users.remove(name, { actor, action: "RemoveUser", subject: name, outcome: "Good" });
    if (!removed) throw new GdsError("NotFound", `no user "${name}"`);
  }

  async listUsers(): Promise<UserSummary[]> {
    return (await this.users.list()).map(summary);
  }

  async hasUsers(): Promise<boolean> {
    return (await this.users.count()) > 0;
  }

  /** True when the name and password match a user. */
  async checkPassword(name: string, password: string): Promise<boolean> {
    if (typeof name !== "string" || typeof password !== "string" || name.length > 128 || password.length > 1024) return false;
    // A name no user can have is not looked up (PostgreSQL refuses a NUL in a query), but costs the same time.
    const user = USER_NAME.test(name) ? await this.users.get(name) : null;
    if (!user || user.passwordHash === null) {
      // Spend the same time as a real check, so that timing does not reveal which names exist.
      await verifyPassword(password, "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
      return false;
    }
    return verifyPassword(password, user.passwordHash);
  }

  /** The roles a user holds now (an unknown user holds none). */
  async rolesOfUser(name: string): Promise<Role[]> {
    return (await this.users.get(name))?.roles ?? [];
  }

  /** The user an X509 user-token certificate belongs to, if any. */
  async userOfCertificate(thumbprint: string): Promise<UserSummary | null> {
    const user = await this.users.getByCertificate(thumbprint);
    return user ? summary(user) : null;
  }
}

