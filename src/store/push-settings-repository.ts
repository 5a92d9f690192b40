import type { Clock } from "../domain/clock";
import type { AuditEntry } from "../services/ports";
import type { PushSettings, PushSettingsChange, PushSettingsStore } from "../services/push-ports";
import { writeAudit } from "./audit-writer";
import type { Database } from "./database";
import { PushSettingsEntity } from "./entities/push-settings-entity";

function toSettings(e: PushSettingsEntity): PushSettings {
  return { ...e, extraTrustedCertificates: e.extraTrustedCertificates ?? [], autoRenew: e.autoRenew !== false };
}

/** PushSettingsStore on TypeORM. */
export class PushSettingsRepository implements PushSettingsStore {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async get(applicationId: string): Promise<PushSettings | null> {
    const e = await this.db.dataSource.manager.findOne(PushSettingsEntity, { where: { applicationId } });
    return e ? toSettings(e) : null;
  }

  async change(applicationId: string, change: PushSettingsChange, nowMs: number, audit: AuditEntry): Promise<PushSettings> {
    return this.db.transaction(async (m) => {
      const existing = await m.findOne(PushSettingsEntity, { where: { applicationId }, lock: this.db.kind === "postgres" ? { mode: "pessimistic_write" } : undefined });
      const next: PushSettingsEntity = {
        applicationId,
        endpointUrl: null,
        userName: null,
        sealedPassword: null,
        userCertificateDer: null,
        sealedUserPrivateKey: null,
        pinnedThumbprint: null,
        extraTrustedCertificates: [],
        maintenanceWindow: null,
        maintenanceTimeZone: null,
        autoRenew: null,
        ...(existing ?? {}),
        ...change,
        updatedAtMs: nowMs,
      };
      if (existing) await m.update(PushSettingsEntity, { applicationId }, next);
      else await m.insert(PushSettingsEntity, next);
      await writeAudit(m, audit, this.clock.nowMs());
      return toSettings(next);
    });
  }
}
