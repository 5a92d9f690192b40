import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { randomUUID } from "node:crypto";
import BetterSqlite3 from "better-sqlite3";
import { GdsError } from "../../src/domain/errors";
import { ApplicationRepository } from "../../src/store/application-repository";
import { openDatabase, type SqliteStatements } from "../../src/store/database";
import { SqliteBatches } from "../../src/store/sqlite-batches";
import { tempDir } from "../helpers/gds-fixture";
import { serverRecord } from "../helpers/records";

describe("SQLite group commit (SqliteBatches)", () => {
  let dir: string;
  let db: BetterSqlite3.Database;
  let observer: BetterSqlite3.Database;
  let batches: SqliteBatches;
  let queue: Promise<unknown> = Promise.resolve();

  before(async () => {
    dir = await tempDir("batches-");
    const file = path.join(dir, "batches.sqlite");
    db = new BetterSqlite3(file);
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE items (name TEXT PRIMARY KEY, n INTEGER NOT NULL)");
    // Another connection sees only what was committed.
    observer = new BetterSqlite3(file, { readonly: true });
    const statements: SqliteStatements = (sql, parameters) => {
      const s = db.prepare(sql);
      if (s.reader) return s.all(...parameters);
      s.run(...parameters);
      return [];
    };
    batches = new SqliteBatches(db, statements, (job) => {
      queue = queue.then(job).catch(() => undefined);
    });
  });
  after(async () => {
    observer.close();
    db.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const committed = (name: string) => observer.prepare("SELECT n FROM items WHERE name = ?").get(name) as { n: number } | undefined;
  const insert = (name: string, n: number) => (run: SqliteStatements) => {
    run("INSERT INTO items (name, n) VALUES (?, ?)", [name, n]);
    return n;
  };

  it("runs works that wait together in one transaction, each seeing the ones before it, and settles them after its COMMIT", async () => {
    const seenByOthers: Array<boolean> = [];
    const results = await Promise.all([
      batches.run(insert("a1", 1)),
      batches.run((run) => {
        // Same transaction: a1 is visible here, not yet to another connection.
        const mine = run("SELECT n FROM items WHERE name = ?", ["a1"]) as Array<{ n: number }>;
        seenByOthers.push(committed("a1") !== undefined);
        run("INSERT INTO items (name, n) VALUES (?, ?)", ["a2", mine[0].n + 1]);
        return mine[0].n + 1;
      }),
      batches.run(insert("a3", 3)),
    ]);
    assert.deepEqual(results, [1, 2, 3]);
    assert.deepEqual(seenByOthers, [false], "a1 was not committed before a2 ran: they share one transaction");
    for (const [name, n] of [["a1", 1], ["a2", 2], ["a3", 3]] as const) assert.equal(committed(name)?.n, n);
  });

  it("rolls back a failing work alone: its caller gets the error, the others commit", async () => {
    const outcomes = await Promise.allSettled([
      batches.run(insert("b1", 1)),
      batches.run((run) => {
        run("INSERT INTO items (name, n) VALUES (?, ?)", ["b2", 2]);
        // The primary key refuses this: b2's insert goes with it.
        run("INSERT INTO items (name, n) VALUES (?, ?)", ["b1", 9]);
      }),
      batches.run(insert("b3", 3)),
    ]);
    assert.equal(outcomes[0].status, "fulfilled");
    assert.equal(outcomes[1].status, "rejected");
    assert.match(String((outcomes[1] as PromiseRejectedResult).reason), /UNIQUE constraint failed/);
    assert.equal(outcomes[2].status, "fulfilled");
    assert.equal(committed("b1")?.n, 1);
    assert.equal(committed("b2"), undefined);
    assert.equal(committed("b3")?.n, 3);
  });

  it("runs a batch again one work at a time when a failing work took the whole transaction with it", async () => {
    const outcomes = await Promise.allSettled([
      batches.run(insert("c1", 1)),
      batches.run((run) => {
        run("ROLLBACK", []);
        throw new Error("gave up");
      }),
      batches.run(insert("c3", 3)),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.match(String((outcomes[1] as PromiseRejectedResult).reason), /gave up/);
    assert.equal(committed("c1")?.n, 1, "c1, rolled back with the batch, was run again and committed");
    assert.equal(committed("c3")?.n, 3);
    assert.equal(db.inTransaction, false);
  });

  it("keeps first-in first-out order with work queued in between (cut)", async () => {
    const order: string[] = [];
    const first = batches.run(() => order.push("batched before"));
    batches.cut();
    queue = queue.then(() => order.push("queued in between"));
    const second = batches.run(() => order.push("batched after"));
    await Promise.all([first, second, queue]);
    assert.deepEqual(order, ["batched before", "queued in between", "batched after"]);
  });
});

describe("group commit through the store (openDatabase, ApplicationRepository)", () => {
  it("30 registrations at once through the batches: each duplicate ApplicationUri fails alone (EntryExists) and takes no record id, the others commit with their audit records", async () => {
    const dir = await tempDir("batches-store-");
    const file = path.join(dir, "gds.sqlite");
    const db = await openDatabase({ sqlitePath: file });
    try {
      // A batch's savepoint journals stay in memory (beyond 64 KiB SQLite would spill them to a temporary file per batch).
      assert.deepEqual(await db.reader.query("PRAGMA temp_store"), [{ temp_store: 2 }]);
      const clock = { nowMs: () => Date.now() };
      const applications = new ApplicationRepository(db, clock);
      // 30 registrations at once; numbers 5, 10, ... are registered twice in the same burst.
      const numbers = Array.from({ length: 24 }, (_, i) => i + 1);
      const requests = [...numbers, 5, 10, 15, 20].map((n) =>
        applications.insert(randomUUID(), serverRecord(`batch${n}`), clock.nowMs(), { actor: "test", action: "RegisterApplication", subject: `batch${n}`, outcome: "Good" }),
      );
      const outcomes = await Promise.allSettled(requests);
      const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
      assert.equal(refused.length, 4, "one of each duplicated pair is refused");
      for (const r of refused) assert.ok(r.reason instanceof GdsError && r.reason.kind === "EntryExists", String(r.reason));
      // What another connection reads: every record once, record ids 1..24 with no gap (the refused
      // ones' counter increments were rolled back with their savepoints), one audit record each.
      const other = new BetterSqlite3(file, { readonly: true });
      try {
        const rows = other.prepare("SELECT application_uri AS uri, record_id AS recordId FROM applications ORDER BY record_id").all() as Array<{ uri: string; recordId: number }>;
        assert.deepEqual(rows.map((r) => r.recordId), numbers);
        assert.deepEqual(new Set(rows.map((r) => r.uri)), new Set(numbers.map((n) => serverRecord(`batch${n}`).applicationUri)));
        const audits = other.prepare("SELECT COUNT(*) AS n FROM audit_records WHERE action = 'RegisterApplication'").get() as { n: number };
        assert.equal(audits.n, 24);
      } finally {
        other.close();
      }
    } finally {
      await db.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
