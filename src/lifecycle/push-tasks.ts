import type { RetryPolicy } from "../domain/push";
import type { PushService } from "../services/push-service";
import type { LifecycleTask } from "./lifecycle-task";

/** The actor of what the scheduler does, in jobs and audit records. */
export const SCHEDULER_ACTOR = "scheduler";

/** How the scheduler's push work behaves; defaults in DEFAULT_PUSH_TASK_OPTIONS. */
export interface PushTaskOptions {
  /** Devices pushed at once. */
  concurrency: number;
  /** Longest time of one attempt on one device. */
  timeoutMs: number;
  /** Further attempts of a renewal job for failures that waiting can cure (unreachable, busy), with the push back-off. */
  retries: number;
  /** A job another run created is taken over once it has been due this long (that run died). */
  takeoverAfterMs: number;
  /** Wait before a device whose renewal job failed gets another one, growing with each failed job in a row. */
  failedJobBackoff: RetryPolicy;
}

export const DEFAULT_PUSH_TASK_OPTIONS: PushTaskOptions = {
  concurrency: 8,
  timeoutMs: 60_000,
  retries: 8,
  takeoverAfterMs: 60_000,
  failedJobBackoff: { firstDelayMs: 10 * 60_000, maxDelayMs: 24 * 3_600_000 },
};

/**
 * "renewal": push-managed devices whose certificate needs replacing get a push job (see
 * PushService.queueRenewals); the job runner task delivers it.
 */
export function renewalTask(push: PushService, everyMs: number, options: PushTaskOptions = DEFAULT_PUSH_TASK_OPTIONS): LifecycleTask {
  return {
    name: "renewal",
    everyMs,
    run: async () => {
      await push.queueRenewals(SCHEDULER_ACTOR, { retries: options.retries, failedJobBackoff: options.failedJobBackoff });
    },
  };
}

/**
 * "push jobs": claims due push jobs (the scheduler's, and abandoned ones of any run) and runs them,
 * `concurrency` at a time, until none is due (PushService.runDueJobs).
 */
export function pushJobTask(push: PushService, everyMs: number, options: PushTaskOptions = DEFAULT_PUSH_TASK_OPTIONS): LifecycleTask {
  return {
    name: "push jobs",
    everyMs,
    run: async (_nowMs, signal) => {
      await push.runDueJobs(SCHEDULER_ACTOR, { concurrency: options.concurrency, timeoutMs: options.timeoutMs, takeoverAfterMs: options.takeoverAfterMs, signal });
    },
  };
}
