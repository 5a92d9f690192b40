import "reflect-metadata";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, describe, it } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { openDatabase } from "../../src/store/database";
import { SqliteCheckpointer } from "../../src/store/sqlite-checkpointer";
import { tempDir } from "../helpers/gds-fixture";
import { waitFor } from "../helpers/wait";

/** A WAL database with one table, as the server opens it. */
function openWal(file: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
  return db;
}

/** Writes `pages` 4 KiB pages' worth of rows, one transaction each (as issuances do). */
function write(db: BetterSqlite3.Database, pages: number): void {
  const insert = db.prepare("INSERT INTO blobs (body) VALUES (?)");
  for (let i = 0; i < pages; i++) db.transaction(() => insert.run(Buffer.alloc(3000, i)))();
}

const autocheckpoint = (db: BetterSqlite3.Database) => Number(db.pragma("wal_autocheckpoint", { simple: true }));

describe("SQLite checkpoints in a worker thread", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });

  it("copies the WAL into the database file while the main connection only commits, and hands checkpointing back on stop", async () => {
    const dir = await tempDir("checkpointer-");
    dirs.push(dir);
    const file = path.join(dir, "gds.sqlite");
    const db = openWal(file);
    const errors: string[] = [];
    const checkpointer = await SqliteCheckpointer.start(file, db, (m) => errors.push(m), 100);
    try {
      // The main connection's own checkpoint is only a safety net now: 1,500 pages do not reach it.
      assert.equal(autocheckpoint(db), 10_000);
      const before = (await fs.stat(file)).size;
      write(db, 1500);
      // The rows reach the database file itself, which only a checkpoint writes.
      await waitFor("the worker's checkpoint", async () => (await fs.stat(file)).size > before + 1000 * 4096, 10_000, 50);
      // Nothing left for the main connection to copy: the worker checkpointed every frame.
      const [result] = db.pragma("wal_checkpoint(PASSIVE)") as Array<{ busy: number; log: number; checkpointed: number }>;
      assert.equal(result.log, result.checkpointed);
      assert.equal((db.prepare("SELECT COUNT(*) AS n FROM blobs").get() as { n: number }).n, 1500);
    } finally {
      await checkpointer.stop();
    }
    assert.equal(autocheckpoint(db), 1000, "SQLite's default is back after stop");
    assert.deepEqual(errors, []);
    db.close();
  });

  it("runs for a database opened by the store from checkpointInBackground until close", async () => {
    const dir = await tempDir("checkpointer-");
    dirs.push(dir);
    const db = await openDatabase({ sqlitePath: path.join(dir, "gds.sqlite") });
    const setting = async () => Number(((await db.reader.query("PRAGMA wal_autocheckpoint")) as Array<{ wal_autocheckpoint: number }>)[0].wal_autocheckpoint);
    assert.equal(await setting(), 1000, "a database opened by a CLI command keeps SQLite's checkpoints");
    const errors: string[] = [];
    await db.checkpointInBackground((m) => errors.push(m));
    assert.equal(await setting(), 10_000, "the worker checkpoints; the main connection only as a safety net");
    await db.close();
    assert.deepEqual(errors, []);
  });

  it("refuses to start on a database that does not exist, with the reason", async () => {
    const dir = await tempDir("checkpointer-");
    dirs.push(dir);
    const file = path.join(dir, "gds.sqlite");
    const db = openWal(file);
    await assert.rejects(SqliteCheckpointer.start(path.join(dir, "missing.sqlite"), db, () => undefined), /SQLite checkpoint thread did not start: .*(not exist|unable to open)/i);
    // The main connection keeps SQLite's default.
    assert.equal(autocheckpoint(db), 1000);
    db.close();
  });
});
