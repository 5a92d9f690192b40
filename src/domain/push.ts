import { createHash } from "node:crypto";
import { invalidArgument } from "./errors";

/**
 * Push certificate management (OPC 10000-12 §7.10): the GDS, as a client, writes a device's trust
 * list and certificate through the device's ServerConfiguration object. The pure part: operations,
 * steps, job states, back-off, first-contact trust and the digest that proves a trust list read
 * back is the one written.
 */

/** What a push changes on a device. */
export type PushOperation = "cert" | "trustlist" | "all";
export const PUSH_OPERATIONS: readonly PushOperation[] = ["cert", "trustlist", "all"];

/** Parses a CLI operation name. */
export function parsePushOperation(text: string): PushOperation {
  const op = PUSH_OPERATIONS.find((o) => o === text);
  if (!op) throw invalidArgument(`"${text.slice(0, 40)}" is not a push operation: use cert, trustlist or all`);
  return op;
}

/** Whether the operation writes the trust list. */
export function writesTrustList(op: PushOperation): boolean {
  return op !== "cert";
}

/** Whether the operation replaces the certificate. */
export function replacesCertificate(op: PushOperation): boolean {
  return op !== "trustlist";
}

/**
 * The steps of a push, in the order that works in the field: trust list first (so the device trusts
 * the CA of the certificate that follows), then the certificate, then ApplyChanges, then a new
 * connection proves it. A job records the last step it completed and a resumed job continues after
 * it; "certificate-issued" is recorded with the issued certificate, so a resumed job delivers that
 * one instead of signing again.
 */
export const PUSH_STEPS = ["none", "trust-list-written", "certificate-issued", "certificate-updated", "changes-applied", "verified"] as const;
export type PushStep = (typeof PUSH_STEPS)[number];

/** True when a job that completed `done` has already completed `step`. */
export function hasReached(done: PushStep, step: PushStep): boolean {
  return PUSH_STEPS.indexOf(done) >= PUSH_STEPS.indexOf(step);
}

/** Parses a stored step name. */
export function parsePushStep(text: string): PushStep {
  const step = PUSH_STEPS.find((s) => s === text);
  if (!step) throw invalidArgument(`"${text}" is not a push step`);
  return step;
}

/**
 * States of a push job: `queued` (waiting, maybe for a retry time), `running` (claimed by one
 * instance until its lease expires; an expired lease means that instance died and anyone may resume
 * the job), `succeeded`, `failed`. A device has at most one queued or running job.
 */
export type PushJobState = "queued" | "running" | "succeeded" | "failed";

/** A push job as stored. */
export interface PushJobRecord {
  jobId: string;
  applicationId: string;
  operation: PushOperation;
  state: PushJobState;
  step: PushStep;
  attempts: number;
  maxAttempts: number;
  /** Name of the last Bad status the device (or its stack) answered, e.g. BadCertificateInvalid. */
  lastStatus: string | null;
  /** Why the last attempt failed, for a plant engineer. */
  reason: string | null;
  nextAttemptAtMs: number;
  owner: string | null;
  leaseExpiresAtMs: number | null;
  /** The certificate request of the certificate this job delivers (known before it is signed). */
  requestId: string | null;
  issuedSerialHex: string | null;
  /** The device said ApplyChanges is needed (CloseAndUpdate or UpdateCertificate). */
  applyChangesRequired: boolean;
  /** trustListDigest of the trust list written, to compare with what the device reads back. */
  trustListDigest: string | null;
  createdBy: string;
  createdAtMs: number;
  updatedAtMs: number;
  finishedAtMs: number | null;
}

/**
 * Jobs handed to the running GDS (`opcua-gds push ... --queue`) are created by "queue:ACTOR": the
 * acting scheduler's job runner takes them at once, like its own, where a job of an interactive
 * run is taken over only once that run has had time to claim it and evidently died.
 */
export const QUEUED_JOB_CREATOR_PREFIX = "queue:";

/** The creator of a job `actor` hands to the running GDS. */
export function queuedJobCreator(actor: string): string {
  return `${QUEUED_JOB_CREATOR_PREFIX}${actor}`;
}

/** Back-off between attempts of one job. */
export interface RetryPolicy {
  /** Delay before the second attempt; each later one doubles it. */
  firstDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { firstDelayMs: 2_000, maxDelayMs: 120_000 };

/** Delay after failed attempt number `attempt` (1 for the first): exponential, capped. */
export function retryDelayMs(attempt: number, policy: RetryPolicy = DEFAULT_RETRY_POLICY): number {
  const n = Math.max(1, Math.floor(attempt));
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.min(n - 1, 30));
}

/**
 * Kinds of push failure. Retrying helps when the device was out of reach or busy; it does not
 * when the device refuses our user, our certificate, or what we sent, or when the GDS itself
 * refuses (a CSR that fails the GDS's checks): those wait for a person.
 */
export type PushFailureKind =
  | "unreachable"
  | "timeout"
  | "busy"
  | "device-untrusted"
  | "access-denied"
  | "rejected"
  | "unsupported"
  | "verification"
  | "gds";

const RETRYABLE: ReadonlySet<PushFailureKind> = new Set(["unreachable", "timeout", "busy", "verification"]);

/** A push step failed; `message` is what a plant engineer reads. */
export class PushFailure extends Error {
  constructor(
    readonly kind: PushFailureKind,
    message: string,
    /** The Bad status behind it, by name, when a device answered one. */
    readonly remoteStatus: string | null = null,
  ) {
    super(message);
    this.name = "PushFailure";
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.kind);
  }
}

/** How a device's own certificate was accepted, or why not. */
export type DeviceCertificateDecision =
  | { accept: true; by: "pinned" | "issued-by-gds" | "pinned-now" }
  | { accept: false; reason: string };

/**
 * First contact (the threat: a machine in the middle that answers in the device's place): a
 * device's certificate is trusted only when it is the certificate the GDS issued to that
 * application, or the one an operator saw and pinned (`app trust`, or `--trust-device-certificate`
 * which pins what it sees now).
 */
export function decideDeviceCertificate(input: {
  thumbprint: string;
  pinnedThumbprint: string | null;
  issuedByGds: boolean;
  trustOnFirstUse: boolean;
  applicationIdText: string;
}): DeviceCertificateDecision {
  if (input.issuedByGds) return { accept: true, by: "issued-by-gds" };
  if (input.pinnedThumbprint !== null && input.pinnedThumbprint === input.thumbprint) return { accept: true, by: "pinned" };
  if (input.trustOnFirstUse) return { accept: true, by: "pinned-now" };
  const was = input.pinnedThumbprint ? ` (pinned: ${input.pinnedThumbprint})` : "";
  return {
    accept: false,
    reason:
      `the device presents a certificate the GDS does not know, thumbprint ${input.thumbprint}${was}: ` +
      `check it and run \`opcua-gds app trust ${input.applicationIdText}\`, or push with --trust-device-certificate`,
  };
}

/** The four lists of a trust list, DER each (OPC 10000-12 §7.8.2.7 TrustListDataType). */
export interface TrustListLists {
  trustedCertificates: Buffer[];
  trustedCrls: Buffer[];
  issuerCertificates: Buffer[];
  issuerCrls: Buffer[];
}

/**
 * SHA-256 over the four lists, each as a sorted set: the same for the same content whatever order
 * a device keeps its files in, different when anything was added, dropped or changed.
 */
export function trustListDigest(lists: TrustListLists): string {
  const hash = createHash("sha256");
  for (const list of [lists.trustedCertificates, lists.trustedCrls, lists.issuerCertificates, lists.issuerCrls]) {
    const items = [...new Set(list.map((b) => createHash("sha256").update(b).digest("hex")))].sort();
    hash.update(`${items.length}:${items.join(",")};`);
  }
  return hash.digest("hex");
}

/** What a push run reports per device. */
export interface PushOutcome {
  applicationId: string;
  applicationUri: string;
  endpointUrl: string | null;
  result: "ok" | "failed" | "skipped";
  /** Why it failed or was skipped; what was done when ok. */
  reason: string;
  step: PushStep;
  attempts: number;
  lastStatus: string | null;
  jobId: string | null;
  /** Serial of the certificate now on the device (cert and all). */
  serialHex: string | null;
  durationMs: number;
}
