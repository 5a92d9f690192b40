import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import type { EntityManager, EntityMetadata } from "typeorm";
import { GdsError } from "../domain/errors";
import type { AuditEntry } from "../services/ports";
import { writeAudit } from "./audit-writer";
import { ENTITIES, MIGRATIONS, type Database } from "./database";
import { CaStateEntity } from "./entities/ca-state-entity";
import { CounterEntity } from "./entities/counter-entity";
import { PreviousCaCrlEntity } from "./entities/previous-ca-crl-entity";

/**
 * A logical snapshot of the database: every table of ENTITIES as rows of entity values (property
 * names, transformers applied), so that a snapshot of SQLite restores into PostgreSQL and back.
 */

/** One row: property path -> JSON-safe value (Buffer and Date are tagged, see encodeValue). */
export type SnapshotRow = Record<string, unknown>;

/** A page of rows of one table. */
export interface SnapshotPage {
  table: string;
  rows: SnapshotRow[];
}

/** The schema a snapshot was taken with: the names of the migrations applied, sorted. */
export type SnapshotSchema = string[];

/** The migrations this version of the GDS knows, sorted: a snapshot restores only into the same schema. */
export function currentSchema(): SnapshotSchema {
  return MIGRATIONS.map((m) => new m().name as string).sort();
}

/** Refuses a snapshot of another schema: its rows would not fit this version's tables. */
export function checkSnapshotSchema(schema: SnapshotSchema): void {
  const expected = currentSchema();
  if (JSON.stringify([...schema].sort()) !== JSON.stringify(expected)) {
    throw new GdsError(
      "Configuration",
      `the backup was made with database schema [${schema.join(", ")}], this opcua-gds has [${expected.join(", ")}]: restore it with the opcua-gds version that made it, then start the new version to migrate`,
    );
  }
}

const PAGE_ROWS = 500;

function metadataOf(db: Database): EntityMetadata[] {
  return ENTITIES.map((e) => db.dataSource.getMetadata(e));
}

/** The tables a snapshot holds, by name. */
export function snapshotTables(db: Database): string[] {
  return metadataOf(db).map((m) => m.tableName);
}

function encodeValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (Buffer.isBuffer(value)) return { $bytes: value.toString("base64") };
  if (value instanceof Date) return { $date: value.toISOString() };
  if (typeof value === "bigint") return { $bigint: value.toString() };
  return value;
}

function decodeValue(value: unknown): unknown {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const tagged = value as { $bytes?: string; $date?: string; $bigint?: string };
    if (typeof tagged.$bytes === "string") return Buffer.from(tagged.$bytes, "base64");
    if (typeof tagged.$date === "string") return new Date(tagged.$date);
    if (typeof tagged.$bigint === "string") return BigInt(tagged.$bigint);
  }
  return value;
}

async function appliedSchema(m: EntityManager, db: Database): Promise<SnapshotSchema> {
  const table = db.dataSource.options.migrationsTableName ?? "migrations";
  const rows: Array<{ name: string }> = await m.query(`SELECT name FROM ${m.connection.driver.escape(table)}`);
  return rows.map((r) => r.name).sort();
}

/**
 * Reads every table in ONE read-only transaction, so the pages handed to `sink` form a consistent
 * snapshot while the GDS keeps issuing: SQLite (WAL) gives a deferred transaction the snapshot of
 * its first read; PostgreSQL gets REPEATABLE READ READ ONLY. Returns the schema and row counts.
 */
export async function exportSnapshot(
  db: Database,
  begin: (schema: SnapshotSchema) => Promise<void>,
  sink: (page: SnapshotPage) => Promise<void>,
): Promise<{ schema: SnapshotSchema; rows: Record<string, number> }> {
  const runner = db.dataSource.createQueryRunner();
  try {
    await runner.connect();
    if (db.kind === "postgres") await runner.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    else await runner.query("BEGIN DEFERRED");
    try {
      const m = runner.manager;
      const schema = await appliedSchema(m, db);
      await begin(schema);
      const counts: Record<string, number> = {};
      for (const meta of metadataOf(db)) {
        const order = Object.fromEntries(meta.primaryColumns.map((c) => [c.propertyPath, "ASC" as const]));
        counts[meta.tableName] = 0;
        for (let skip = 0; ; skip += PAGE_ROWS) {
          const entities = await m.find(meta.target, { order, skip, take: PAGE_ROWS });
          if (entities.length === 0) break;
          const rows = entities.map((e) => Object.fromEntries(meta.columns.map((c) => [c.propertyPath, encodeValue(c.getEntityValue(e))])));
          await sink({ table: meta.tableName, rows });
          counts[meta.tableName] += rows.length;
          if (entities.length < PAGE_ROWS) break;
        }
      }
      return { schema, rows: counts };
    } finally {
      await runner.query("ROLLBACK").catch(() => undefined);
    }
  } finally {
    await runner.release();
  }
}

/** Tables whose rows the migrations seed (a fresh database is still empty with them). */
const SEEDED_TABLES = new Set(["counters"]);

/** True when the database holds nothing but what its migrations seed. */
export async function isEmptyDatabase(db: Database): Promise<boolean> {
  for (const meta of metadataOf(db)) {
    if (SEEDED_TABLES.has(meta.tableName)) continue;
    if ((await db.dataSource.manager.count(meta.target)) > 0) return false;
  }
  return true;
}

/** Other sessions on the same PostgreSQL database (a GDS still running on it); 0 on SQLite. */
export async function otherSessions(db: Database): Promise<number> {
  if (db.kind !== "postgres") return 0;
  const runner = db.dataSource.createQueryRunner();
  try {
    const [row] = (await runner.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> $1",
      [RESTORE_APPLICATION_NAME],
    )) as Array<{ n: number }>;
    return row.n;
  } finally {
    await runner.release();
  }
}

/** application_name of the connections a restore opens (not counted as other sessions). */
export const RESTORE_APPLICATION_NAME = "opcua-gds restore";

/** Largest number of bound parameters per INSERT (SQLite allows 32766, PostgreSQL 65535). */
const MAX_PARAMETERS = 30_000;

async function insertRows(m: EntityManager, meta: EntityMetadata, rows: SnapshotRow[], postgres: boolean): Promise<void> {
  const driver = m.connection.driver;
  const columns: ColumnMetadata[] = meta.columns;
  const perInsert = Math.max(1, Math.min(500, Math.floor(MAX_PARAMETERS / columns.length)));
  const names = columns.map((c) => driver.escape(c.databaseName)).join(", ");
  for (let start = 0; start < rows.length; start += perInsert) {
    const chunk = rows.slice(start, start + perInsert);
    const params: unknown[] = [];
    const tuples = chunk.map((row) => {
      const marks = columns.map((c) => {
        params.push(driver.preparePersistentValue(decodeValue(row[c.propertyPath] ?? null), c));
        return postgres ? `$${params.length}` : "?";
      });
      return `(${marks.join(", ")})`;
    });
    // Raw INSERT with every column: TypeORM's insert() would drop generated ids (audit sequence numbers).
    await m.query(`INSERT INTO ${driver.escape(meta.tableName)} (${names}) VALUES ${tuples.join(", ")}`, params);
  }
}

/** What a restore changes in the restored rows, and records. */
export interface RestoreAdjustments {
  nowMs: number;
  /**
   * Every CA's CRL number is raised to at least this: CRLs published after the backup was taken
   * (and lost with it) must never see their numbers used again.
   */
  crlNumberFloor: number;
  audit: AuditEntry;
}

async function adjustAfterRestore(m: EntityManager, a: RestoreAdjustments): Promise<void> {
  for (const state of await m.find(CaStateEntity)) {
    // nextUpdate 0 makes the restored CRL due: the first start (or `init`) signs a new one with the raised number.
    await m.update(
      CaStateEntity,
      { groupName: state.groupName, certificateTypeName: state.certificateTypeName },
      { crlNumber: Math.max(state.crlNumber, a.crlNumberFloor), crlNextUpdateMs: 0 },
    );
  }
  for (const state of await m.find(PreviousCaCrlEntity)) {
    await m.update(
      PreviousCaCrlEntity,
      { groupName: state.groupName, certificateTypeName: state.certificateTypeName, caSerialHex: state.caSerialHex },
      { crlNumber: Math.max(state.crlNumber, a.crlNumberFloor), crlNextUpdateMs: 0 },
    );
  }
  // Record ids handed out after the backup are handed out again: QueryApplications clients see a
  // new LastCounterResetTime and start paging from 0 (OPC 10000-12 §6.5.4).
  await m.createQueryBuilder().update(CounterEntity).set({ resetAtMs: a.nowMs }).execute();
  await writeAudit(m, a.audit, a.nowMs);
}

async function fixSequences(m: EntityManager, meta: EntityMetadata): Promise<void> {
  const driver = m.connection.driver;
  for (const c of meta.columns.filter((col) => col.isGenerated && col.generationStrategy === "increment")) {
    const table = driver.escape(meta.tableName);
    const column = driver.escape(c.databaseName);
    await m.query(`SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX(${column}), 0) + 1, false) FROM ${table}`, [table, c.databaseName]);
  }
}

/**
 * Replaces every row of the database with the pages `next` yields, in ONE transaction: either the
 * whole snapshot is in, adjusted (see RestoreAdjustments), or nothing changed. `next` returns null
 * after the last page; it may do other work between pages (write files) inside the transaction.
 */
export async function importSnapshot(db: Database, schema: SnapshotSchema, next: () => Promise<SnapshotPage | null>, adjustments: RestoreAdjustments): Promise<Record<string, number>> {
  checkSnapshotSchema(schema);
  const metas = new Map(metadataOf(db).map((meta) => [meta.tableName, meta]));
  const postgres = db.kind === "postgres";
  return db.transaction(async (m) => {
    const driver = m.connection.driver;
    if (postgres) await m.query(`TRUNCATE ${[...metas.keys()].map((t) => driver.escape(t)).join(", ")}`);
    else for (const t of metas.keys()) await m.query(`DELETE FROM ${driver.escape(t)}`);
    const counts: Record<string, number> = Object.fromEntries([...metas.keys()].map((t) => [t, 0]));
    for (let page = await next(); page; page = await next()) {
      const meta = metas.get(page.table);
      if (!meta) throw new GdsError("Configuration", `the backup holds a table "${page.table.slice(0, 64)}" this opcua-gds does not know`);
      await insertRows(m, meta, page.rows, postgres);
      counts[page.table] += page.rows.length;
    }
    if (postgres) for (const meta of metas.values()) await fixSequences(m, meta);
    await adjustAfterRestore(m, adjustments);
    return counts;
  });
}
