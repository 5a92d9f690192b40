import "reflect-metadata";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Pool } from "pg";
import { DataSource, type EntityManager } from "typeorm";
import { GdsError } from "../domain/errors";
import { ApplicationEntity } from "./entities/application-entity";
import { AuditRecordEntity } from "./entities/audit-record-entity";
import { CaStateEntity } from "./entities/ca-state-entity";
import { CertificateRequestEntity } from "./entities/certificate-request-entity";
import { CounterEntity } from "./entities/counter-entity";
import { IssuedCertificateEntity } from "./entities/issued-certificate-entity";
import { OnboardingWindowEntity } from "./entities/onboarding-window-entity";
import { PushJobEntity } from "./entities/push-job-entity";
import { PushSettingsEntity } from "./entities/push-settings-entity";
import { PreviousCaCrlEntity } from "./entities/previous-ca-crl-entity";
import { PushedStateEntity } from "./entities/pushed-state-entity";
import { UserEntity } from "./entities/user-entity";
import { InitialSchema1764000000000 } from "./migrations/1764000000000-initial-schema";
import { CertificateManagement1764100000000 } from "./migrations/1764100000000-certificate-management";
import { Onboarding1764200000000 } from "./migrations/1764200000000-onboarding";
import { Push1764400000000 } from "./migrations/1764400000000-push";
import { Lifecycle1764500000000 } from "./migrations/1764500000000-lifecycle";
import { Distribution1764510000000 } from "./migrations/1764510000000-distribution";
import { CaRollover1764520000000 } from "./migrations/1764520000000-ca-rollover";
import { RenewalPlanning1764600000000 } from "./migrations/1764600000000-renewal-planning";
import { ApplicationNameIndex1764700000000 } from "./migrations/1764700000000-application-name-index";
import { SqliteBatches, type BatchedConnection } from "./sqlite-batches";
import { SqliteCheckpointer, type CheckpointedConnection } from "./sqlite-checkpointer";

/** Every entity and migration, in one place so that SQLite and PostgreSQL get the same schema. */
export const ENTITIES = [ApplicationEntity, UserEntity, AuditRecordEntity, CounterEntity, CertificateRequestEntity, IssuedCertificateEntity, CaStateEntity, OnboardingWindowEntity, PushSettingsEntity, PushJobEntity, PreviousCaCrlEntity, PushedStateEntity];
export const MIGRATIONS = [
  InitialSchema1764000000000,
  CertificateManagement1764100000000,
  Onboarding1764200000000,
  Push1764400000000,
  Lifecycle1764500000000,
  Distribution1764510000000,
  CaRollover1764520000000,
  RenewalPlanning1764600000000,
  ApplicationNameIndex1764700000000,
];

export type DatabaseKind = "sqlite" | "postgres";

/** Runs plain SQL (`$n` placeholders on PostgreSQL, `?` on SQLite) and returns the rows. */
export interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

/** Runs plain SQL synchronously inside an SQLite transaction; returns the rows (none for a statement without RETURNING). */
export type SqliteStatements = (sql: string, parameters: unknown[]) => unknown[];

/** The database the GDS keeps its single source of truth in. */
export interface Database {
  kind: DatabaseKind;
  dataSource: DataSource;
  /**
   * Plain SQL outside `transaction`, straight to the driver (TypeORM's query path costs more than
   * the statement): reads, and on PostgreSQL single statements that change (atomic on their own).
   * On SQLite a change goes through `sqliteTransaction`, which is queued.
   */
  reader: Queryable;
  /** Runs `work` in one transaction. On SQLite transactions are queued: there is one connection. */
  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T>;
  /**
   * SQLite only: runs `work` synchronously and atomically, queued like `transaction`, so that it
   * never runs inside another transaction left open across an await. Works waiting together share
   * one COMMIT, each in a savepoint of its own (SqliteBatches); the promise settles after it.
   */
  sqliteTransaction<T>(work: (run: SqliteStatements) => T): Promise<T>;
  /**
   * SQLite: checkpoints the WAL from a thread of its own from now until close (the server; a CLI
   * command's few writes leave them to SQLite). A thread that cannot start is reported to `onError`
   * and SQLite's own checkpoints stay. Nothing on PostgreSQL.
   */
  checkpointInBackground(onError: (message: string) => void): Promise<void>;
  close(): Promise<void>;
}

/**
 * Plain SQL on PostgreSQL straight to the pool, as named statements: each pooled connection parses
 * and plans a statement once (the server shares these two cores), and TypeORM's query runner per
 * statement is skipped.
 */
function postgresStatements(pool: Pool): Queryable {
  const names = new Map<string, string>();
  return {
    query: async (sql, parameters = []) => {
      let name = names.get(sql);
      if (!name) names.set(sql, (name = `gds_${createHash("sha1").update(sql).digest("hex").slice(0, 24)}`));
      return (await pool.query({ name, text: sql, values: parameters })).rows;
    },
  };
}

/** The statements of one better-sqlite3 connection, prepared once per SQL text. */
interface SqliteConnection extends BatchedConnection, CheckpointedConnection {
  prepare(sql: string): { reader: boolean; all(...parameters: unknown[]): unknown[]; run(...parameters: unknown[]): unknown };
}

function sqliteStatements(connection: SqliteConnection): SqliteStatements {
  const prepared = new Map<string, ReturnType<SqliteConnection["prepare"]>>();
  return (sql, parameters) => {
    let statement = prepared.get(sql);
    if (!statement) prepared.set(sql, (statement = connection.prepare(sql)));
    if (statement.reader) return statement.all(...parameters);
    statement.run(...parameters);
    return [];
  };
}

/** Where the database lives: a `postgres://` URL, or else a SQLite file. */
export interface DatabaseLocation {
  url?: string;
  sqlitePath: string;
  /** PostgreSQL application_name of the connections (how other sessions are told apart). */
  applicationName?: string;
}

/** Describes the location for messages without the password of a URL. */
export function describeLocation(location: DatabaseLocation): string {
  if (location.url) return location.url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
  return location.sqlitePath;
}

function createDataSource(location: DatabaseLocation): DataSource {
  if (location.url) {
    if (!/^postgres(ql)?:\/\//.test(location.url)) {
      throw new GdsError("Configuration", `unsupported database URL "${describeLocation(location)}": use postgres://user@host:port/db, or none for SQLite`);
    }
    return new DataSource({
      type: "postgres",
      url: location.url,
      entities: ENTITIES,
      migrations: MIGRATIONS,
      synchronize: false,
      logging: false,
      // A request may wait for a pooled connection during a burst; waiting is not a failure.
      extra: { max: 16, connectionTimeoutMillis: 30_000, application_name: location.applicationName ?? "opcua-gds" },
    });
  }
  fs.mkdirSync(path.dirname(location.sqlitePath), { recursive: true });
  return new DataSource({
    type: "better-sqlite3",
    database: location.sqlitePath,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    logging: false,
    prepareDatabase: (db: { pragma(source: string): unknown }) => {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      // The CLI and a running server share the file: wait for a lock rather than fail.
      db.pragma("busy_timeout = 5000");
      // LIKE is case-sensitive on PostgreSQL and in the Like operator: the same here.
      db.pragma("case_sensitive_like = ON");
      // Savepoint journals in memory: each work of a group-commit batch runs in a savepoint, and
      // SQLite spills a savepoint journal beyond 64 KiB to a temporary file (created, written and
      // unlinked per batch: about half of the main thread's write calls when issuing).
      db.pragma("temp_store = MEMORY");
    },
  });
}

// A fixed key so that instances starting together on one PostgreSQL migrate one after the other.
const MIGRATION_LOCK_KEY = 0x6764735f6d6967; // "gds_mig"

async function migrate(dataSource: DataSource, kind: DatabaseKind): Promise<void> {
  if (kind === "sqlite") {
    await dataSource.runMigrations({ transaction: "each" });
    return;
  }
  const runner = dataSource.createQueryRunner();
  try {
    await runner.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    await dataSource.runMigrations({ transaction: "each" });
  } finally {
    await runner.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await runner.release();
  }
}

/** Opens (and migrates) the database at `location`. */
export async function openDatabase(location: DatabaseLocation): Promise<Database> {
  const dataSource = createDataSource(location);
  const kind: DatabaseKind = location.url ? "postgres" : "sqlite";
  try {
    await dataSource.initialize();
  } catch (e) {
    throw new GdsError("Configuration", `cannot open the database ${describeLocation(location)}: ${(e as Error).message}`);
  }
  await migrate(dataSource, kind);

  let queue: Promise<unknown> = Promise.resolve();
  const enqueue = <T>(work: () => Promise<T> | T): Promise<T> => {
    const run = queue.then(work);
    queue = run.catch(() => undefined);
    return run;
  };
  let batches: SqliteBatches | null = null;
  const transaction = <T>(work: (manager: EntityManager) => Promise<T>): Promise<T> => {
    if (kind === "postgres") return dataSource.transaction(work);
    // First-in first-out: synchronous work queued after this runs after it.
    batches?.cut();
    return enqueue(() => dataSource.transaction(work));
  };
  let reader: Queryable;
  let checkpointer: SqliteCheckpointer | null = null;
  let checkpointerStarting: Promise<void> | null = null;
  let sqliteTransaction: Database["sqliteTransaction"] = () => Promise.reject(new Error("sqliteTransaction on PostgreSQL"));
  const sqliteConnection = kind === "sqlite" ? (dataSource.driver as unknown as { databaseConnection: SqliteConnection }).databaseConnection : null;
  if (sqliteConnection) {
    const statements = sqliteStatements(sqliteConnection);
    reader = { query: async (sql, parameters = []) => statements(sql, parameters) };
    const sqliteBatches = (batches = new SqliteBatches(sqliteConnection, statements, (job) => void enqueue(job)));
    sqliteTransaction = (work) => sqliteBatches.run(work);
  } else {
    reader = postgresStatements((dataSource.driver as unknown as { master: Pool }).master);
  }
  return {
    kind,
    dataSource,
    reader,
    transaction,
    sqliteTransaction,
    checkpointInBackground: (onError) => {
      if (!sqliteConnection) return Promise.resolve();
      checkpointerStarting ??= SqliteCheckpointer.start(location.sqlitePath, sqliteConnection, onError).then(
        (started) => void (checkpointer = started),
        // Not a reason to stay down: the main connection checkpoints as SQLite does by default.
        (e: Error) => onError(`${e.message}; SQLite checkpoints stay on the main connection`),
      );
      return checkpointerStarting;
    },
    close: async () => {
      await queue.catch(() => undefined);
      await checkpointerStarting;
      await checkpointer?.stop();
      checkpointer = null;
      checkpointerStarting = null;
      if (dataSource.isInitialized) await dataSource.destroy();
    },
  };
}
