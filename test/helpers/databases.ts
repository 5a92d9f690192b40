import { randomBytes } from "node:crypto";
import { Client } from "pg";

/** The database backends every integration suite runs against. */
export const BACKENDS = ["sqlite", "postgres"] as const;
export type Backend = (typeof BACKENDS)[number];

/** Base URL of the PostgreSQL server the tests use (trust authentication on these machines). */
export const PG_BASE_URL = process.env.OPCUA_GDS_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

/** A database made for one test run, dropped at the end. */
export interface TestDatabase {
  /** postgres:// URL, or undefined for SQLite in the data folder. */
  url: string | undefined;
  drop(): Promise<void>;
}

function withDatabase(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(work: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: PG_BASE_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (e) {
    // A run without PostgreSQL must fail loudly, never skip: half the suite would go untested.
    throw new Error(`PostgreSQL at ${PG_BASE_URL} is not reachable (${(e as Error).message}); start it or set OPCUA_GDS_TEST_PG`);
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh database for `backend` (PostgreSQL: a new database dropped by `drop`). */
export async function createTestDatabase(backend: Backend): Promise<TestDatabase> {
  if (backend === "sqlite") return { url: undefined, drop: async () => undefined };
  const name = `gds_test_${randomBytes(6).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  return {
    url: withDatabase(PG_BASE_URL, name),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
