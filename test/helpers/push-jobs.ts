import { randomUUID } from "node:crypto";
import type { PushJobRecord } from "../../src/domain/push";

/** A queued push job as the push service creates one, with `overrides`. */
export function pushJob(applicationId: string, overrides: Partial<PushJobRecord> = {}): PushJobRecord {
  const now = Date.now();
  return {
    jobId: randomUUID(),
    applicationId,
    operation: "all",
    state: "queued",
    step: "none",
    attempts: 0,
    maxAttempts: 3,
    lastStatus: null,
    reason: null,
    nextAttemptAtMs: now,
    owner: null,
    leaseExpiresAtMs: null,
    requestId: null,
    issuedSerialHex: null,
    applyChangesRequired: false,
    trustListDigest: null,
    createdBy: "test",
    createdAtMs: now,
    updatedAtMs: now,
    finishedAtMs: null,
    ...overrides,
  };
}
