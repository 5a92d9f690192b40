import path from "node:path";
import { Worker } from "node:worker_threads";
import type { CheckpointWorkerData, FromCheckpointWorker } from "./sqlite-checkpoint-worker";

/** How often the worker checkpoints; the WAL holds at most about this long of writes. */
export const CHECKPOINT_INTERVAL_MS = 1000;
/**
 * The main connection's own automatic checkpoint while the worker runs: a safety net only (about
 * 40 MB of WAL), reached if the worker falls behind.
 */
const FALLBACK_AUTOCHECKPOINT_PAGES = 10_000;
const SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

/** The main connection, as far as checkpointing goes. */
export interface CheckpointedConnection {
  pragma(source: string): unknown;
}

/**
 * Moves WAL checkpoints of the server's SQLite database off the event loop. SQLite checkpoints
 * in the connection whose commit fills the WAL (every 1,000 pages): the server's one connection,
 * on its one thread, which then waits for the database file to be written and synced (about
 * 10 ms here, every hundred or so issuances, a tenth of the event loop under an issuance burst).
 * A worker thread with a connection of its own checkpoints every second instead; the main
 * connection keeps a far larger automatic checkpoint as a safety net, and gets SQLite's default
 * back if the worker fails.
 */
export class SqliteCheckpointer {
  private constructor(
    private readonly worker: Worker,
    private readonly connection: CheckpointedConnection,
  ) {}

  static async start(sqlitePath: string, connection: CheckpointedConnection, onError: (message: string) => void, intervalMs = CHECKPOINT_INTERVAL_MS): Promise<SqliteCheckpointer> {
    const data: CheckpointWorkerData = { sqlitePath, intervalMs };
    const worker = new Worker(path.join(__dirname, "sqlite-checkpoint-worker.js"), { workerData: data });
    const first = await new Promise<FromCheckpointWorker>((resolve) => {
      worker.once("message", resolve);
      worker.once("error", (e) => resolve({ type: "failed", message: e.message }));
    });
    if (first.type !== "ready") {
      await worker.terminate();
      throw new Error(`the SQLite checkpoint thread did not start: ${first.type === "failed" ? first.message : first.type}`);
    }
    connection.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    const checkpointer = new SqliteCheckpointer(worker, connection);
    const handBack = (message: string) => {
      connection.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES}`);
      onError(`SQLite checkpoints are back on the main connection: ${message}`);
    };
    worker.on("message", (m: FromCheckpointWorker) => {
      if (m.type === "failed") handBack(m.message);
    });
    worker.on("error", (e) => handBack(e.message));
    // The server must not stay up for it.
    worker.unref();
    return checkpointer;
  }

  /** Stops the worker and closes its connection; the main connection checkpoints as SQLite does by default. */
  async stop(): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      this.worker.on("message", (m: FromCheckpointWorker) => m.type === "stopped" && resolve());
      this.worker.once("exit", () => resolve());
    });
    this.worker.postMessage("stop");
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await stopped;
    clearTimeout(timer);
    this.connection.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES}`);
  }
}
