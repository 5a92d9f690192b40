import { renewalTimeMs } from "../../domain/renewal";

/** What the agent knows of the certificate it holds (null: none). */
export interface HeldCertificate {
  notBeforeMs: number;
  notAfterMs: number;
  applicationUri: string | null;
}

/**
 * Why the agent must get a new certificate now, or null when the one it holds will do. Pure: the
 * caller passes the time and the GDS's GetCertificateStatus answer (null when it could not ask).
 */
export function renewalReason(held: HeldCertificate | null, applicationUri: string, nowMs: number, updateRequired: boolean | null, renewalFraction = 2 / 3): string | null {
  if (held === null) return "no certificate yet";
  if (held.applicationUri !== applicationUri) return `the certificate is for ${held.applicationUri ?? "no ApplicationUri"}, not ${applicationUri}`;
  if (nowMs >= held.notAfterMs) return "the certificate has expired";
  if (nowMs < held.notBeforeMs) return "the certificate is not valid yet";
  if (updateRequired) return "the GDS asks for a new certificate (GetCertificateStatus)";
  if (nowMs >= renewalTimeMs(held.notBeforeMs, held.notAfterMs, { kind: "fraction", fraction: renewalFraction })) return "the renewal time has come";
  return null;
}

/**
 * When the agent checks next: after `intervalMs`, or earlier at the certificate's renewal time or
 * shortly before a CRL's nextUpdate, whichever comes first; never sooner than `minimumMs` from now.
 */
export function nextCheckMs(nowMs: number, intervalMs: number, held: HeldCertificate | null, crlNextUpdatesMs: number[], options: { renewalFraction?: number; minimumMs?: number } = {}): number {
  const candidates = [nowMs + intervalMs];
  if (held) candidates.push(renewalTimeMs(held.notBeforeMs, held.notAfterMs, { kind: "fraction", fraction: options.renewalFraction ?? 2 / 3 }));
  // A fresh CRL is signed well before the old one's nextUpdate; fetching a minute early is enough.
  for (const next of crlNextUpdatesMs) candidates.push(next - 60_000);
  const upcoming = candidates.filter((t) => t > nowMs);
  return Math.max(nowMs + (options.minimumMs ?? 1_000), Math.min(...upcoming, nowMs + intervalMs));
}

/**
 * How long to wait after `failures` consecutive failures (1 for the first): doubling from
 * `initialMs` up to `maxMs`, spread by ±20 % with `random` (0..1) so that many agents that lost the
 * GDS together do not come back together.
 */
export function backoffMs(failures: number, initialMs: number, maxMs: number, random: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  return Math.round(base * (0.8 + 0.4 * random));
}
