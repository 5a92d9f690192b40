/**
 * Worker thread of SqliteCheckpointer: a connection of its own that checkpoints the WAL on a timer
 * and answers "stop" by closing it. Errors are reported to the parent, which then hands
 * checkpointing back to the main connection.
 */
import BetterSqlite3 from "better-sqlite3";
import { parentPort, workerData } from "node:worker_threads";

export interface CheckpointWorkerData {
  sqlitePath: string;
  intervalMs: number;
}

export type FromCheckpointWorker = { type: "ready" } | { type: "failed"; message: string } | { type: "stopped" };

const { sqlitePath, intervalMs } = workerData as CheckpointWorkerData;
const port = parentPort!;
const send = (m: FromCheckpointWorker) => port.postMessage(m);

let db: BetterSqlite3.Database | null = null;
let timer: NodeJS.Timeout | null = null;

function fail(e: unknown): void {
  if (timer) clearInterval(timer);
  timer = null;
  send({ type: "failed", message: (e as Error).message });
}

try {
  db = new BetterSqlite3(sqlitePath, { fileMustExist: true });
  // A checkpoint that finds a writer in the way copies what it can (PASSIVE) and comes back next tick.
  db.pragma("busy_timeout = 100");
  const open = db;
  timer = setInterval(() => {
    try {
      open.pragma("wal_checkpoint(PASSIVE)");
    } catch (e) {
      fail(e);
    }
  }, intervalMs);
  send({ type: "ready" });
} catch (e) {
  fail(e);
}

port.on("message", (m: unknown) => {
  if (m !== "stop") return;
  if (timer) clearInterval(timer);
  try {
    db?.close();
  } finally {
    send({ type: "stopped" });
    port.close();
  }
});
