import type { Clock } from "../domain/clock";
import type { CurrentCertificate, FleetCounts, FleetStore } from "./ports";

/** How far ahead `status` looks for certificates about to expire. */
export const EXPIRING_WINDOW_MS = 30 * 86_400_000;

/** A fleet summary as `opcua-gds status` shows it. */
export interface FleetStatus extends FleetCounts {
  at: string;
  expiringWindowDays: number;
  crls: Array<{ ca: string; crlNumber: number; nextUpdate: string }>;
}

/** Read-only views over the whole fleet, for operators and monitoring. */
export class FleetService {
  constructor(
    private readonly store: FleetStore,
    private readonly clock: Clock,
  ) {}

  async status(): Promise<FleetStatus> {
    const now = this.clock.nowMs();
    const [counts, crls] = await Promise.all([this.store.counts(now, now + EXPIRING_WINDOW_MS), this.store.crls()]);
    return {
      at: new Date(now).toISOString(),
      expiringWindowDays: EXPIRING_WINDOW_MS / 86_400_000,
      ...counts,
      crls: crls.map((c) => ({ ca: `${c.groupName}/${c.certificateTypeName}`, crlNumber: c.crlNumber, nextUpdate: new Date(c.nextUpdateMs).toISOString() })),
    };
  }

  currentCertificates(): Promise<CurrentCertificate[]> {
    return this.store.currentCertificates(this.clock.nowMs());
  }

  async crlNextUpdates(): Promise<Array<{ ca: string; nextUpdateMs: number }>> {
    return (await this.store.crls()).map((c) => ({ ca: `${c.groupName}/${c.certificateTypeName}`, nextUpdateMs: c.nextUpdateMs }));
  }
}
