import { GdsError } from "./errors";
import type { PushOperation } from "./push";

/**
 * Trust-list distribution and drift detection, the pure part: what the GDS knows a push-managed
 * server holds, whether that is the group's current trust list, what a read-back found different
 * from what was pushed, and which push puts it back.
 */

/** What the GDS last pushed to one server and what the last drift check saw there. */
export interface PushedState {
  applicationId: string;
  /** trustListDigest of the trust list last written and read back by a push; null: never pushed one. */
  trustListDigest: string | null;
  trustListWrittenAtMs: number | null;
  /** The certificate last pushed and seen on the endpoint; null: the GDS never pushed one. */
  certificateSerialHex: string | null;
  certificateThumbprint: string | null;
  certificateWrittenAtMs: number | null;
  drift: DriftObservation | null;
}

/** Result of one read-back of a device. */
export type DriftState = "in-sync" | "drifted" | "unreachable";

/** What the last drift check of a device saw. */
export interface DriftObservation {
  state: DriftState;
  checkedAtMs: number;
  /** What differs, or why the device could not be read, in words; null when in sync. */
  detail: string | null;
  /** Digest of the trust list the device read back; null when it was not read. */
  observedTrustListDigest: string | null;
  /** SHA-1 thumbprint of the certificate the endpoint presented; null when unreachable. */
  presentedThumbprint: string | null;
}

/**
 * Whether the GDS delivered `expectedDigest` to the server (written and read back by a push). A
 * change made on the device since is drift, reported (and repaired, by policy) by drift detection,
 * so that the `report` policy is not undone by distribution behind the operator's back.
 */
export function holdsTrustList(state: PushedState, expectedDigest: string): boolean {
  return state.trustListDigest === expectedDigest;
}

/**
 * The last drift check's result while it still describes the device: a push that succeeded after it
 * (a repair) supersedes it until the next check.
 */
export function currentDrift(state: PushedState): DriftObservation | null {
  const d = state.drift;
  if (!d) return null;
  const lastPushMs = Math.max(state.trustListWrittenAtMs ?? 0, state.certificateWrittenAtMs ?? 0);
  return d.checkedAtMs >= lastPushMs ? d : null;
}

/** One difference between a device and what the GDS last pushed to it. */
export interface DriftFinding {
  what: "certificate" | "trust-list";
  detail: string;
}

/**
 * Compares a read-back with what was pushed. Only what the GDS pushed is compared: a trust list
 * that is merely older than the group's current one is pending distribution, not drift.
 */
export function findDrift(pushed: PushedState, seen: { presentedThumbprint: string; trustListDigest: string | null }): DriftFinding[] {
  const findings: DriftFinding[] = [];
  if (pushed.certificateThumbprint !== null && seen.presentedThumbprint !== pushed.certificateThumbprint) {
    findings.push({ what: "certificate", detail: `the endpoint presents certificate ${seen.presentedThumbprint}, not ${pushed.certificateThumbprint} that the GDS pushed (serial ${pushed.certificateSerialHex})` });
  }
  if (pushed.trustListDigest !== null && seen.trustListDigest !== null && seen.trustListDigest !== pushed.trustListDigest) {
    findings.push({ what: "trust-list", detail: `the trust list reads back as ${seen.trustListDigest.slice(0, 16)}…, not ${pushed.trustListDigest.slice(0, 16)}… that the GDS wrote` });
  }
  return findings;
}

/** The push that puts back what drifted. */
export function repairOperation(findings: DriftFinding[]): PushOperation {
  const cert = findings.some((f) => f.what === "certificate");
  const trust = findings.some((f) => f.what === "trust-list");
  return cert && trust ? "all" : cert ? "cert" : "trustlist";
}

/** What the drift check does with a difference (OPCUA_GDS_DRIFT_REPAIR). */
export type DriftPolicy = "report" | "repair";

/** Parses OPCUA_GDS_DRIFT_REPAIR; unset means repair. */
export function parseDriftPolicy(text: string | undefined): DriftPolicy {
  if (text === undefined || text === "") return "repair";
  const t = text.trim().toLowerCase();
  if (t === "report" || t === "repair") return t;
  throw new GdsError("Configuration", `OPCUA_GDS_DRIFT_REPAIR "${text.slice(0, 40)}" is not a drift policy: set it to report or repair (default)`);
}
