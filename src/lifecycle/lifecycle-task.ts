/**
 * A periodic piece of lifecycle work (renewal, the push job runner, trust-list distribution, drift
 * checks) that the scheduler runs while this instance is the acting one. Tasks are registered with
 * `LifecycleScheduler.register` in the composition root (src/app.ts).
 */
export interface LifecycleTask {
  /** Shown in logs and audit records, e.g. "renewal", "push jobs". */
  readonly name: string;
  /** Least time between two runs; the scheduler's tick is its granularity. */
  readonly everyMs: number;
  /**
   * One run, with the injected clock's time. It must return soon after `signal` aborts (the
   * instance stops, or lost leadership); a throw is logged and the task runs again at its next turn.
   * Runs of one task never overlap.
   */
  run(nowMs: number, signal: AbortSignal): Promise<void>;
}

/**
 * Who acts: when several instances share one PostgreSQL database, only the holder of this lease
 * runs tasks (implemented in store/ with an advisory lock held on one dedicated connection; on
 * SQLite the one process always acts).
 */
export interface Leadership {
  /** Tries to become (or stay) the acting instance; true while it is. A lost connection is lost leadership. */
  acquire(): Promise<boolean>;
  /** Gives leadership up (on stop). */
  release(): Promise<void>;
}
