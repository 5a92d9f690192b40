/**
 * When a certificate should be renewed: by default at 2/3 of its issued lifetime, as cert-manager
 * does, so a renewal has a third of the lifetime to succeed. Pure: the clock is the caller's.
 */
export function renewalTimeMs(notBeforeMs: number, notAfterMs: number, fraction = 2 / 3): number {
  return Math.round(notBeforeMs + (notAfterMs - notBeforeMs) * fraction);
}
