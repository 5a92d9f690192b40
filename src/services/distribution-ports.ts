import type { DriftObservation, PushedState } from "../domain/distribution";
import type { AuditEntry } from "./ports";

/**
 * What the GDS last pushed to each server and what drift checks saw there. The push side is written
 * by the job store itself, in the transaction that marks a job succeeded (PushJobStore.update).
 */
export interface PushedStateStore {
  /** Every server a push has succeeded on: the push-managed servers. */
  list(): Promise<PushedState[]>;
  get(applicationId: string): Promise<PushedState | null>;
  /** Records a drift check's result, with `audit` in the same transaction when given. */
  recordDrift(applicationId: string, observation: DriftObservation, audit: AuditEntry | null): Promise<void>;
}
