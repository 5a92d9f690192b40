import type { SqliteStatements } from "./database";

/** What the batches need of a better-sqlite3 connection. */
export interface BatchedConnection {
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  readonly inTransaction: boolean;
}

type Work = (run: SqliteStatements) => unknown;

interface Waiting {
  work: Work;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Thrown inside a batch when a failing work took the whole transaction with it. */
class BatchLost extends Error {}

/**
 * Group commit for the server's one SQLite connection. The synchronous transactions that are
 * waiting when the connection comes free run in one BEGIN ... COMMIT, each inside a savepoint of
 * its own: one that throws is rolled back alone and its caller gets the error, the others commit
 * together, and every caller's promise settles only after that COMMIT. Under a burst (16 issuances
 * in flight make three transactions each) a COMMIT, which writes the WAL frames of every page the
 * transaction touched, was about half the cost of a transaction; shared pages (the audit table's
 * last page, the indexes' right edges) are now written once per batch.
 *
 * Each work sees what the works before it in its batch wrote, exactly as if they had run one after
 * the other. A batch that cannot commit as a whole (COMMIT refused, or a failing work made SQLite
 * roll back the whole transaction) runs again one work per transaction, so every caller gets the
 * outcome it would have had without batching.
 */
export class SqliteBatches {
  private open: Waiting[] | null = null;
  private readonly one: (work: Work) => unknown;
  private readonly all: (batch: Waiting[]) => Outcome[];

  /**
   * @param enqueue the connection's queue: a batch runs when everything queued before it is done.
   */
  constructor(
    connection: BatchedConnection,
    statements: SqliteStatements,
    private readonly enqueue: (job: () => Promise<void>) => void,
  ) {
    // Inside `all` this is a savepoint; on its own, a transaction.
    this.one = connection.transaction((work: Work) => work(statements));
    this.all = connection.transaction((batch: Waiting[]) =>
      batch.map((w): Outcome => {
        try {
          return { ok: true, value: this.one(w.work) };
        } catch (error) {
          if (!connection.inTransaction) throw new BatchLost();
          return { ok: false, error };
        }
      }),
    );
  }

  /** Runs `work` in the next batch; settles after that batch commits. */
  run<T>(work: (run: SqliteStatements) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let batch = this.open;
      if (!batch) {
        const fresh: Waiting[] = [];
        this.open = batch = fresh;
        // Its turn in the queue is taken now; it runs once the event loop has handled the I/O at hand,
        // so that the requests that came in with this one join it.
        this.enqueue(() => new Promise<void>((done) => setImmediate(done)).then(() => this.flush(fresh)));
      }
      batch.push({ work, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  /** Closes the open batch: work queued from now on runs after whatever was queued in between. */
  cut(): void {
    this.open = null;
  }

  private flush(batch: Waiting[]): void {
    if (this.open === batch) this.open = null;
    let outcomes: Outcome[];
    if (batch.length === 1) {
      outcomes = [this.attempt(batch[0])];
    } else {
      try {
        outcomes = this.all(batch);
      } catch {
        // Nothing of the batch was committed: each work again, on its own.
        outcomes = batch.map((w) => this.attempt(w));
      }
    }
    outcomes.forEach((o, i) => (o.ok ? batch[i].resolve(o.value) : batch[i].reject(o.error)));
  }

  private attempt(w: Waiting): Outcome {
    try {
      return { ok: true, value: this.one(w.work) };
    } catch (error) {
      return { ok: false, error };
    }
  }
}
