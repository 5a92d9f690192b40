/**
 * Who acts: when several instances share one PostgreSQL database, only the holder of this lease
 * runs the lifecycle scheduler's tasks (store/: an advisory lock held on one dedicated connection;
 * on SQLite the one process always acts). Correctness never rests on it alone: job claims and the
 * one-active-job-per-device index hold between instances too; leadership keeps the work in one place.
 */
export interface Leadership {
  /** Tries to become, or checks it still is, the acting instance; a lost connection is lost leadership. */
  acquire(): Promise<boolean>;
  /** Gives leadership up (on stop). */
  release(): Promise<void>;
}
