/**
 * When a CA that a rollover (`opcua-gds ca renew`) superseded may leave the trust lists. Pure: the
 * time is the caller's.
 */

/** What the decision needs of an issued certificate. */
export interface IssuedCertificateFacts {
  applicationId: string;
  groupName: string;
  certificateTypeName: string;
  issuerSerialHex: string;
  notBeforeMs: number;
  notAfterMs: number;
  revokedAtMs: number | null;
}

/** A superseded CA of one group and type. */
export interface SupersededCa {
  serialHex: string;
  notAfterMs: number;
}

/** Whether a superseded CA retires now, and if not, what still holds it. */
export type RetirementDecision =
  | { retire: true; reason: "expired" | "no-certificate-in-use" }
  | {
      retire: false;
      /** Certificates of this CA still in use (unrevoked, unexpired, not replaced). */
      inUse: IssuedCertificateFacts[];
      /** True when the GDS's own certificate still comes from this CA. */
      ownCertificate: boolean;
    };

function valid(c: IssuedCertificateFacts, nowMs: number): boolean {
  return c.revokedAtMs === null && c.notAfterMs > nowMs;
}

/**
 * The certificates of CA `caSerialHex` still in use: unrevoked, unexpired, and not replaced, i.e.
 * the application holds no valid certificate of the same group and type issued by another CA at
 * the same time or later. `certificates` may hold those of every CA of the group and type.
 */
export function certificatesInUse(caSerialHex: string, certificates: IssuedCertificateFacts[], nowMs: number): IssuedCertificateFacts[] {
  const key = (c: IssuedCertificateFacts) => `${c.applicationId}\u0000${c.groupName}\u0000${c.certificateTypeName}`;
  const newestOtherCa = new Map<string, number>();
  for (const c of certificates) {
    if (c.issuerSerialHex === caSerialHex || !valid(c, nowMs)) continue;
    newestOtherCa.set(key(c), Math.max(newestOtherCa.get(key(c)) ?? -Infinity, c.notBeforeMs));
  }
  return certificates.filter((c) => c.issuerSerialHex === caSerialHex && valid(c, nowMs) && !((newestOtherCa.get(key(c)) ?? -Infinity) >= c.notBeforeMs));
}

/**
 * A superseded CA retires once it has expired, or once none of its certificates is in use and the
 * GDS's own certificate no longer comes from it (clients that drop the old CA must still reach
 * the GDS).
 */
export function retirementDecision(ca: SupersededCa, certificates: IssuedCertificateFacts[], ownCertificateIssuerSerialHex: string | null, nowMs: number): RetirementDecision {
  if (ca.notAfterMs <= nowMs) return { retire: true, reason: "expired" };
  const inUse = certificatesInUse(ca.serialHex, certificates, nowMs);
  const ownCertificate = ownCertificateIssuerSerialHex === ca.serialHex;
  if (inUse.length === 0 && !ownCertificate) return { retire: true, reason: "no-certificate-in-use" };
  return { retire: false, inUse, ownCertificate };
}

/**
 * The GDS's own certificate moves to the new CA last: once it is the only thing that holds the old
 * CA. Until then every client and device may still trust only the old CA (it has not renewed, so it
 * has not fetched the new trust list), and the GDS must stay reachable and able to push to it.
 */
export function ownCertificateMovesNow(decision: RetirementDecision): boolean {
  return !decision.retire && decision.ownCertificate && decision.inUse.length === 0;
}
