import type { Client } from "pg";
import type { Leadership } from "../services/lifecycle-ports";
import type { Database } from "./database";

// A fixed key shared by every instance of one database ("gds_sch").
const SCHEDULER_LOCK_KEY = "29102369286611816"; // 0x6764735f736368

/**
 * PostgreSQL: a session-level advisory lock (pg_try_advisory_lock) on a connection of its own, not
 * a pooled one (a pooled connection handed back would keep the lock for whoever takes it next).
 * The lock lives as long as that session: when the connection is lost, the database frees the lock
 * for another instance and this one finds out at its next check.
 */
class AdvisoryLockLeadership implements Leadership {
  private client: Client | null = null;
  private held = false;

  constructor(private readonly url: string) {}

  async acquire(): Promise<boolean> {
    try {
      if (!this.client) {
        // Loaded here: CLI commands and SQLite servers never need it (about 60 ms of loading).
        const { Client } = await import("pg");
        const client = new Client({ connectionString: this.url, application_name: "opcua-gds scheduler" });
        // An idle connection that breaks emits 'error': without a listener the process would end.
        client.on("error", () => void this.drop(client));
        this.client = client;
        this.held = false;
        await client.connect();
      }
      if (this.held) {
        await this.client.query("SELECT 1");
        return true;
      }
      const { rows } = await this.client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1::bigint) AS locked", [SCHEDULER_LOCK_KEY]);
      this.held = rows[0]?.locked === true;
      return this.held;
    } catch {
      await this.drop(this.client);
      return false;
    }
  }

  async release(): Promise<void> {
    const client = this.client;
    if (!client) return;
    // Ending the session frees the lock whatever state it is in.
    await this.drop(client);
  }

  private async drop(client: Client | null): Promise<void> {
    if (!client || client !== this.client) return;
    this.client = null;
    this.held = false;
    await client.end().catch(() => undefined);
  }
}

/** SQLite: one process owns the database file; it always acts. */
const soleLeadership: Leadership = { acquire: async () => true, release: async () => undefined };

/** The leadership of the scheduler on `db`. */
export function leadershipFor(db: Database): Leadership {
  if (db.kind === "sqlite") return soleLeadership;
  const url = (db.dataSource.options as { url?: string }).url;
  if (!url) throw new Error("the PostgreSQL database has no URL to open the scheduler's connection with");
  return new AdvisoryLockLeadership(url);
}
