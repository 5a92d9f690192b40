import { createHash } from "node:crypto";
import { parseDurationMs } from "./duration";
import { invalidArgument } from "./errors";

/**
 * When a certificate group's certificates are renewed: at a fraction of the issued lifetime
 * (cert-manager's default 2/3 leaves a third of the lifetime for the renewal to succeed), or a
 * fixed time before expiry ("30d": a plant that wants a month to notice a failing device).
 */
export type RenewalPolicy = { kind: "fraction"; fraction: number } | { kind: "before-expiry"; beforeMs: number };

export const DEFAULT_RENEWAL_POLICY: RenewalPolicy = { kind: "fraction", fraction: 2 / 3 };

/**
 * Largest jitter, as a fraction of the lifetime: a fleet issued in one push run does not come due
 * in one second, yet a renewal is never more than this much earlier than the policy says.
 */
export const MAX_RENEWAL_JITTER_FRACTION = 0.02;

/** Parses "66.7%" (of the lifetime) or a duration before expiry such as "30d", "12h". */
export function parseRenewalPolicy(text: string): RenewalPolicy {
  const t = text.trim();
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(t);
  if (percent) {
    const p = Number(percent[1]);
    if (!(p >= 1 && p <= 99)) throw invalidArgument(`"${t.slice(0, 40)}" is not a percentage of the lifetime from 1% to 99%`);
    return { kind: "fraction", fraction: p / 100 };
  }
  let beforeMs: number;
  try {
    beforeMs = parseDurationMs(t);
  } catch {
    throw invalidArgument(`"${t.slice(0, 40)}" is neither a percentage of the lifetime (66%) nor a time before expiry (30d, 12h)`);
  }
  if (beforeMs <= 0) throw invalidArgument(`"${t.slice(0, 40)}" before expiry must be more than 0`);
  return { kind: "before-expiry", beforeMs };
}

/** The policy in the words of parseRenewalPolicy. */
export function formatRenewalPolicy(policy: RenewalPolicy): string {
  if (policy.kind === "fraction") return `${Math.round(policy.fraction * 1000) / 10}%`;
  const units: Array<[string, number]> = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]];
  const [unit, ms] = units.find(([, ms]) => policy.beforeMs % ms === 0) ?? ["s", 1000];
  return `${policy.beforeMs / ms}${unit}`;
}

/**
 * A stable share of `maxMs` derived from the serial: the same certificate always gets the same
 * renewal time (every instance and every restart agrees), different certificates spread out.
 */
export function renewalJitterMs(serialHex: string, maxMs: number): number {
  const n = createHash("sha256").update(serialHex.toLowerCase()).digest().readUInt32BE(0);
  return Math.floor((n / 0x1_0000_0000) * Math.max(0, maxMs));
}

/**
 * A certificate's renewal time: the policy's point in its lifetime, moved earlier by a jitter of at
 * most MAX_RENEWAL_JITTER_FRACTION of the lifetime; always within [notBefore, notAfter). A time
 * before expiry that is not shorter than the lifetime would renew at once, forever: the default
 * fraction applies then (as cert-manager does).
 */
export function renewalTimeMs(notBeforeMs: number, notAfterMs: number, policy: RenewalPolicy = DEFAULT_RENEWAL_POLICY, serialHex = ""): number {
  const lifetimeMs = Math.max(0, notAfterMs - notBeforeMs);
  const effective = policy.kind === "before-expiry" && policy.beforeMs >= lifetimeMs ? DEFAULT_RENEWAL_POLICY : policy;
  const planned = effective.kind === "fraction" ? notBeforeMs + lifetimeMs * effective.fraction : notAfterMs - effective.beforeMs;
  const jitter = serialHex ? renewalJitterMs(serialHex, lifetimeMs * MAX_RENEWAL_JITTER_FRACTION) : 0;
  return Math.round(Math.max(notBeforeMs, Math.min(notAfterMs - 1, planned - jitter)));
}

/** Why an application needs a new certificate of one group and type; null when it does not. */
export type RenewalReason = "no-certificate" | "revoked" | "renewal-time" | "ca-changed" | "key-policy";

/** What renewalReason looks at: the application's newest unexpired certificate of the group and type. */
export interface RenewalFacts {
  /** The newest certificate that has not expired (revoked or not); null when there is none. */
  newest: { renewalAtMs: number; revoked: boolean; issuerSerialHex: string; rsaKeyBits: number } | null;
  nowMs: number;
  /** Serial of the CA that signs for the group now. */
  currentCaSerialHex: string;
  /** Smallest RSA key the group's policy accepts now (modulus bits); other keys are not compared. */
  minKeyBits: number;
}

/**
 * "Should this certificate be replaced?" as a chain of small checks that names the first reason
 * (OPC 10000-12 §7.9.10 GetCertificateStatus, and the scheduler's renewal of pushed devices).
 */
export function renewalReason(f: RenewalFacts): RenewalReason | null {
  if (!f.newest) return "no-certificate";
  if (f.newest.revoked) return "revoked";
  if (f.newest.renewalAtMs <= f.nowMs) return "renewal-time";
  if (f.newest.issuerSerialHex !== f.currentCaSerialHex) return "ca-changed";
  if (f.newest.rsaKeyBits > 0 && f.newest.rsaKeyBits < f.minKeyBits) return "key-policy";
  return null;
}
