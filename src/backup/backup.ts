import fs from "node:fs/promises";
import path from "node:path";
import type { GdsConfig } from "../config/config";
import { dataPaths } from "../config/data-folder";
import { GdsError } from "../domain/errors";
import { openDatabase, type Database, type DatabaseKind } from "../store/database";
import {
  RESTORE_APPLICATION_NAME,
  checkSnapshotSchema,
  exportSnapshot,
  importSnapshot,
  isEmptyDatabase,
  otherSessions,
  type SnapshotPage,
  type SnapshotSchema,
} from "../store/snapshot";
import { BackupWriter, backupRecords, verifyBackupFile, type VerifiedBackup } from "./backup-file";
import { checkEntryPath, digestOf, isEmptyFolder, readDataFolder, siblingTempFolder, swapIn, writeEntry, type FolderEntry } from "./data-folder-files";

/** The first record of a backup: what it is and how it was taken. */
interface ManifestRecord {
  kind: "manifest";
  product: "opcua-gds";
  createdAtMs: number;
  database: DatabaseKind;
  schema: SnapshotSchema;
}

interface RowsRecord extends SnapshotPage {
  kind: "rows";
}

interface EntryRecord {
  kind: "entry";
  path: string;
  type: "dir" | "file";
  mode: number;
  /** File content, base64. */
  data?: string;
}

/** The last record: what came before it, so that a restore knows it read everything. */
interface EndRecord {
  kind: "end";
  rows: Record<string, number>;
  entries: number;
}

/** What `backup` wrote. */
export interface BackupReport {
  file: string;
  createdAt: string;
  database: DatabaseKind;
  rows: Record<string, number>;
  files: number;
  bytes: number;
  sha256: string;
  /** Copies begun: more than one when the data folder changed during a copy. */
  attempts: number;
}

/** How often a backup starts again when the data folder changed while the database was read. */
const BACKUP_ATTEMPTS = 3;

async function requireGdsData(config: GdsConfig): Promise<void> {
  const paths = dataPaths(config.dataDir);
  const needed = [path.join(paths.root, "ca"), ...(config.databaseUrl ? [] : [paths.sqlite])];
  for (const file of needed) {
    try {
      await fs.access(file);
    } catch {
      throw new GdsError("Configuration", `no GDS data in ${config.dataDir} (${path.basename(file)} is missing): give --data (and --db) of the GDS to back up`);
    }
  }
}

function entryRecord(e: FolderEntry): EntryRecord {
  return { kind: "entry", path: e.path, type: e.kind, mode: e.mode, ...(e.data ? { data: e.data.toString("base64") } : {}) };
}

/**
 * `backup`: the database and the data folder as ONE consistent snapshot, taken while the GDS runs.
 * The database is read in one read-only transaction; the data folder is read before and after it,
 * and the copy starts again when the folder changed in between (a CA replaced meanwhile), so the
 * files are those that were there at the moment of the database snapshot.
 */
export async function takeBackup(config: GdsConfig, file: string, options: { force?: boolean; clock?: () => number } = {}): Promise<BackupReport> {
  const target = path.resolve(file);
  const now = options.clock ?? Date.now;
  await requireGdsData(config);
  if (!options.force) {
    const taken = await fs.access(target).then(
      () => true,
      () => false,
    );
    if (taken) throw new GdsError("EntryExists", `${target} exists: name a new file, or give --force to replace it`);
  }
  const db = await openDatabase({ url: config.databaseUrl, sqlitePath: dataPaths(config.dataDir).sqlite });
  try {
    for (let attempt = 1; attempt <= BACKUP_ATTEMPTS; attempt++) {
      const before = await readDataFolder(config.dataDir, [target]);
      const writer = await BackupWriter.create(target);
      try {
        const createdAtMs = now();
        const manifest = (schema: SnapshotSchema): ManifestRecord => ({ kind: "manifest", product: "opcua-gds", createdAtMs, database: db.kind, schema });
        const { rows } = await exportSnapshot(
          db,
          (schema) => writer.write(manifest(schema)),
          (page) => writer.write({ kind: "rows", ...page } satisfies RowsRecord),
        );
        const after = await readDataFolder(config.dataDir, [target]);
        if (digestOf(before) !== digestOf(after)) {
          await writer.abort();
          continue;
        }
        for (const e of before) await writer.write(entryRecord(e));
        await writer.write({ kind: "end", rows, entries: before.length } satisfies EndRecord);
        const { bytes, sha256 } = await writer.finish();
        return { file: target, createdAt: new Date(createdAtMs).toISOString(), database: db.kind, rows, files: before.filter((e) => e.kind === "file").length, bytes, sha256, attempts: attempt };
      } catch (e) {
        await writer.abort();
        throw e;
      }
    }
    throw new GdsError("Conflict", `the data folder ${config.dataDir} kept changing while the database was read (${BACKUP_ATTEMPTS} tries): run the backup again when no CA is being replaced`);
  } finally {
    await db.close();
  }
}

function badRecord(file: string, why: string): GdsError {
  return new GdsError("InvalidArgument", `${file} is not a usable opcua-gds backup (${why}): nothing was restored`);
}

function checkManifest(file: string, record: unknown): ManifestRecord {
  const m = record as Partial<ManifestRecord> | null;
  if (!m || m.kind !== "manifest" || m.product !== "opcua-gds") throw badRecord(file, "it does not begin with an opcua-gds manifest");
  if (typeof m.createdAtMs !== "number" || !Array.isArray(m.schema) || !m.schema.every((s) => typeof s === "string") || (m.database !== "sqlite" && m.database !== "postgres")) {
    throw badRecord(file, "its manifest is incomplete");
  }
  return m as ManifestRecord;
}

function decodeEntry(file: string, r: Partial<EntryRecord>): FolderEntry {
  if ((r.type !== "dir" && r.type !== "file") || typeof r.mode !== "number" || !Number.isInteger(r.mode) || r.mode < 0 || r.mode > 0o777) throw badRecord(file, "a file entry is malformed");
  if (r.type === "file" && typeof r.data !== "string") throw badRecord(file, "a file entry has no content");
  return { path: checkEntryPath(r.path), kind: r.type, mode: r.mode, data: r.type === "file" ? Buffer.from(r.data!, "base64") : undefined };
}

/** Reads the records after the manifest: row pages for the database, entries written below `folder`. */
class RecordReader {
  readonly rows: Record<string, number> = {};
  entries = 0;
  files = 0;
  private ended = false;

  constructor(
    private readonly file: string,
    private readonly records: AsyncIterator<unknown>,
    private readonly folder: string,
  ) {}

  /** The next page of rows (writing the entries met on the way), or null after the end record. */
  async nextPage(): Promise<SnapshotPage | null> {
    if (this.ended) return null;
    for (;;) {
      const { value, done } = await this.records.next();
      if (done) throw badRecord(this.file, "it ends before its end record");
      const r = value as { kind?: unknown } | null;
      if (r?.kind === "rows") {
        const page = r as Partial<RowsRecord>;
        if (typeof page.table !== "string" || !Array.isArray(page.rows) || !page.rows.every((row) => row && typeof row === "object" && !Array.isArray(row))) throw badRecord(this.file, "a page of rows is malformed");
        this.rows[page.table] = (this.rows[page.table] ?? 0) + page.rows.length;
        return { table: page.table, rows: page.rows };
      }
      if (r?.kind === "entry") {
        const entry = decodeEntry(this.file, r as Partial<EntryRecord>);
        await writeEntry(this.folder, entry);
        this.entries++;
        if (entry.kind === "file") this.files++;
        continue;
      }
      if (r?.kind === "end") {
        this.checkEnd(r as Partial<EndRecord>);
        if (!(await this.records.next()).done) throw badRecord(this.file, "it holds records after its end record");
        this.ended = true;
        return null;
      }
      throw badRecord(this.file, "it holds a record of an unknown kind");
    }
  }

  private checkEnd(end: Partial<EndRecord>): void {
    const expected = end.rows ?? {};
    const tables = new Set([...Object.keys(expected), ...Object.keys(this.rows)]);
    const mismatch = [...tables].some((t) => (expected[t] ?? 0) !== (this.rows[t] ?? 0));
    if (mismatch || end.entries !== this.entries) throw badRecord(this.file, "it holds other rows or files than its end record counts");
  }
}

/** What `restore` did. */
export interface RestoreReport {
  file: string;
  dataDir: string;
  database: DatabaseKind;
  backupCreatedAt: string;
  backupDatabase: DatabaseKind;
  rows: Record<string, number>;
  files: number;
  sha256: string;
  /** Every CA's CRL number is at least this now; the next CRL is signed at the next start. */
  crlNumberFloor: number;
}

/** What `restore --check` found: the file is whole and of this format; what it holds. */
export interface BackupDescription {
  file: string;
  createdAt: string;
  database: DatabaseKind;
  schema: SnapshotSchema;
  rows: Record<string, number>;
  entries: number;
  bytes: number;
  sha256: string;
}

/** Verifies a backup file through to its end record without restoring anything. */
export async function describeBackup(file: string): Promise<BackupDescription> {
  const verified = await verifyBackupFile(path.resolve(file));
  const records = backupRecords(verified);
  const manifest = checkManifest(verified.file, (await records.next()).value);
  const rows: Record<string, number> = {};
  let entries = 0;
  let end: Partial<EndRecord> | null = null;
  for await (const value of records) {
    const r = value as { kind?: unknown; table?: unknown; rows?: unknown } | null;
    if (r?.kind === "rows" && typeof r.table === "string" && Array.isArray(r.rows)) rows[r.table] = (rows[r.table] ?? 0) + r.rows.length;
    else if (r?.kind === "entry") entries++;
    else if (r?.kind === "end") end = r as Partial<EndRecord>;
    else throw badRecord(verified.file, "it holds a record of an unknown kind");
  }
  if (!end || end.entries !== entries || Object.entries(end.rows ?? {}).some(([t, n]) => (rows[t] ?? 0) !== n)) throw badRecord(verified.file, "its records do not match its end record");
  return { file: verified.file, createdAt: new Date(manifest.createdAtMs).toISOString(), database: manifest.database, schema: manifest.schema, rows, entries, bytes: verified.bytes, sha256: verified.sha256 };
}

async function refuseOccupiedDatabase(db: Database, force: boolean): Promise<void> {
  if (force) return;
  const others = await otherSessions(db);
  if (others > 0) throw new GdsError("Conflict", `${others} other session(s) use the target database: stop every opcua-gds on it before restoring (or give --force)`);
  if (!(await isEmptyDatabase(db))) throw new GdsError("EntryExists", "the target database is not empty: restore into a new database, or give --force to replace its content");
}

/**
 * `restore`: verifies the whole file first, then rebuilds the data folder in a temporary folder
 * beside it and the database in ONE transaction (SQLite: a new file in that folder), and only then
 * swaps the folder into place: a failure at any point leaves the target as it was. CRL numbers are
 * raised to a time-derived floor (milliseconds since 1970 at the restore) so that they keep
 * increasing past any CRL published after the backup was taken.
 */
export async function restoreBackup(config: GdsConfig, file: string, options: { actor: string; force?: boolean; clock?: () => number }): Promise<RestoreReport> {
  const force = options.force ?? false;
  const nowMs = (options.clock ?? Date.now)();
  const verified: VerifiedBackup = await verifyBackupFile(path.resolve(file));
  const records = backupRecords(verified);
  try {
    const manifest = checkManifest(verified.file, (await records.next()).value);
    checkSnapshotSchema(manifest.schema);
    const dataDir = path.resolve(config.dataDir);
    if (verified.file.startsWith(`${dataDir}${path.sep}`)) throw new GdsError("InvalidArgument", `the backup ${verified.file} lies inside the data folder it would replace: move it elsewhere first`);
    if (!force && !(await isEmptyFolder(dataDir))) throw new GdsError("EntryExists", `the data folder ${dataDir} is not empty: restore into a new folder, or give --force to replace it (stop the GDS first)`);
    const prepared = await siblingTempFolder(dataDir, "restoring");
    /** A PostgreSQL database committed before the folder moved: from then on the prepared folder must survive. */
    let remoteCommitted = false;
    try {
      const db = await openDatabase({ url: config.databaseUrl, sqlitePath: dataPaths(prepared).sqlite, applicationName: RESTORE_APPLICATION_NAME });
      const reader = new RecordReader(verified.file, records, prepared);
      const crlNumberFloor = Math.max(nowMs, manifest.createdAtMs);
      try {
        await refuseOccupiedDatabase(db, force);
        await importSnapshot(db, manifest.schema, () => reader.nextPage(), {
          nowMs,
          crlNumberFloor,
          audit: {
            actor: options.actor,
            action: "Restore",
            subject: path.basename(verified.file).slice(0, 200),
            outcome: "Good",
            details: `backup of ${new Date(manifest.createdAtMs).toISOString()} (${manifest.database}) sha256=${verified.sha256}; CRL numbers raised to at least ${crlNumberFloor}`,
          },
        });
        remoteCommitted = db.kind === "postgres";
      } finally {
        await db.close();
      }
      await swapIn(prepared, dataDir).catch((e: Error) => {
        if (!remoteCommitted) throw e;
        throw new GdsError("Conflict", `the database was restored, but the data folder could not be put in place (${e.message}): move ${prepared} to ${dataDir} by hand before starting`);
      });
      return {
        file: verified.file,
        dataDir,
        database: db.kind,
        backupCreatedAt: new Date(manifest.createdAtMs).toISOString(),
        backupDatabase: manifest.database,
        rows: reader.rows,
        files: reader.files,
        sha256: verified.sha256,
        crlNumberFloor,
      };
    } catch (e) {
      if (!remoteCommitted) await fs.rm(prepared, { recursive: true, force: true });
      throw e;
    }
  } finally {
    await records.return(undefined);
  }
}
