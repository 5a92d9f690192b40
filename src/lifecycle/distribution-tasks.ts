import type { DriftDetection } from "../services/drift-detection";
import type { TrustListDistribution } from "../services/trust-list-distribution";
import type { LifecycleTask } from "./lifecycle-task";
import { SCHEDULER_ACTOR } from "./push-tasks";

/**
 * "trust-list distribution": every push-managed server that does not hold its group's current trust
 * list (a new CA, a new or re-signed CRL) gets a trust-list job; the job runner task delivers it.
 */
export function trustListDistributionTask(distribution: TrustListDistribution, everyMs: number): LifecycleTask {
  return {
    name: "trust-list distribution",
    everyMs,
    run: async (nowMs, signal) => {
      await distribution.distribute(SCHEDULER_ACTOR, nowMs, signal);
    },
  };
}

/**
 * "drift check": reads back every push-managed server's certificate and trust list and records what
 * differs from what the GDS pushed; under the repair policy it queues the push that puts it back.
 */
export function driftCheckTask(drift: DriftDetection, everyMs: number): LifecycleTask {
  return {
    name: "drift check",
    everyMs,
    run: async (_nowMs, signal) => {
      await drift.check(SCHEDULER_ACTOR, { signal });
    },
  };
}
