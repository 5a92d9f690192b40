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
