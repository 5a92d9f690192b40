import type { Clock } from "../domain/clock";
import type { CurrentCertificate, FleetCounts, FleetStore } from "./ports";
import type { GroupTrustListStatus, TrustListDistribution } from "./trust-list-distribution";

/** How far ahead `status` looks for certificates about to expire. */
export const EXPIRING_WINDOW_MS = 30 * 86_400_000;

/** A fleet summary as `opcua-gds status` shows it. */
export interface FleetStatus extends FleetCounts {
  at: string;
  expiringWindowDays: number;
  crls: Array<{ ca: string; crlNumber: number; nextUpdate: string }>;
  /** Per group: how many push-managed servers hold its current trust list, and drift checks by result. */
  trustLists: GroupTrustListStatus[];
}

/** Read-only views over the whole fleet, for operators and monitoring. */
export class FleetService {
  constructor(
    private readonly store: FleetStore,
    private readonly clock: Clock,
    private readonly distribution: Pick<TrustListDistribution, "status">,
  ) {}

  async status(): Promise<FleetStatus> {
    const now = this.clock.nowMs();
    const [counts, crls, trustLists] = await Promise.all([this.store.counts(now, now + EXPIRING_WINDOW_MS), this.store.crls(), this.distribution.status()]);
    return {
      at: new Date(now).toISOString(),
      expiringWindowDays: EXPIRING_WINDOW_MS / 86_400_000,
      ...counts,
      crls: crls.map((c) => ({ ca: `${c.groupName}/${c.certificateTypeName}`, crlNumber: c.crlNumber, nextUpdate: new Date(c.nextUpdateMs).toISOString() })),
      trustLists,
    };
  }

  currentCertificates(): Promise<CurrentCertificate[]> {
    return this.store.currentCertificates(this.clock.nowMs());
  }

  async crlNextUpdates(): Promise<Array<{ ca: string; nextUpdateMs: number }>> {
    return (await this.store.crls()).map((c) => ({ ca: `${c.groupName}/${c.certificateTypeName}`, nextUpdateMs: c.nextUpdateMs }));
  }
}
