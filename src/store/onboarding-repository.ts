import type { Clock } from "../domain/clock";
import type { AuditEntry, OnboardingStore, OnboardingWindow } from "../services/ports";
import { writeAudit } from "./audit-writer";
import type { Database } from "./database";
import { OnboardingWindowEntity } from "./entities/onboarding-window-entity";

/** OnboardingStore on TypeORM. */
export class OnboardingRepository implements OnboardingStore {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async latest(): Promise<OnboardingWindow | null> {
    const [e] = await this.db.dataSource.manager.find(OnboardingWindowEntity, { order: { id: "DESC" }, take: 1 });
    return e ? { openedAtMs: e.openedAtMs, closesAtMs: e.closedAtMs ?? e.closesAtMs, openedBy: e.openedBy, closedBy: e.closedBy } : null;
  }

  async open(openedBy: string, nowMs: number, closesAtMs: number, audit: AuditEntry): Promise<void> {
    await this.db.transaction(async (m) => {
      // A new window replaces an open one: only the latest counts.
      await m.createQueryBuilder().update(OnboardingWindowEntity).set({ closedAtMs: nowMs, closedBy: openedBy }).where("closed_at IS NULL AND closes_at > :now", { now: nowMs }).execute();
      await m.insert(OnboardingWindowEntity, { openedAtMs: nowMs, closesAtMs, openedBy: openedBy.slice(0, 256), closedAtMs: null, closedBy: null });
      await writeAudit(m, audit, this.clock.nowMs());
    });
  }

  async close(closedBy: string, nowMs: number, audit: AuditEntry): Promise<boolean> {
    return this.db.transaction(async (m) => {
      const result = await m.createQueryBuilder().update(OnboardingWindowEntity).set({ closedAtMs: nowMs, closedBy: closedBy.slice(0, 256) }).where("closed_at IS NULL AND closes_at > :now", { now: nowMs }).execute();
      if (!result.affected) return false;
      await writeAudit(m, audit, this.clock.nowMs());
      return true;
    });
  }
}
