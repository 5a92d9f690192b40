import { MoreThanOrEqual } from "typeorm";
import type { Clock } from "../domain/clock";
import type { AuditEntry, AuditLog, AuditRecord } from "../services/ports";
import { writeAudit } from "./audit-writer";
import type { Database } from "./database";
import { AuditRecordEntity } from "./entities/audit-record-entity";

/** AuditLog on TypeORM. */
export class AuditRepository implements AuditLog {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async append(entry: AuditEntry): Promise<void> {
    await this.db.transaction((m) => writeAudit(m, entry, this.clock.nowMs()));
  }

  async since(sinceMs: number, limit: number): Promise<AuditRecord[]> {
    const rows = await this.db.dataSource.manager.find(AuditRecordEntity, {
      where: { atMs: MoreThanOrEqual(sinceMs) },
      order: { seq: "ASC" },
      take: limit,
    });
    return rows.map((r) => ({ seq: r.seq, atMs: r.atMs, actor: r.actor, action: r.action, subject: r.subject, outcome: r.outcome, details: r.details ?? undefined }));
  }
}
