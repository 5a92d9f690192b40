import type { EntityManager } from "typeorm";
import type { Clock } from "../domain/clock";
import type { DriftObservation, DriftState, PushedState } from "../domain/distribution";
import type { PushJobRecord } from "../domain/push";
import type { PushedStateStore } from "../services/distribution-ports";
import type { AuditEntry } from "../services/ports";
import { writeAudit } from "./audit-writer";
import type { Database } from "./database";
import { IssuedCertificateEntity } from "./entities/issued-certificate-entity";
import { PushedStateEntity } from "./entities/pushed-state-entity";

function toState(e: PushedStateEntity): PushedState {
  return {
    applicationId: e.applicationId,
    trustListDigest: e.trustListDigest,
    trustListWrittenAtMs: e.trustListWrittenAtMs,
    certificateSerialHex: e.certificateSerialHex,
    certificateThumbprint: e.certificateThumbprint,
    certificateWrittenAtMs: e.certificateWrittenAtMs,
    drift:
      e.driftState === null || e.driftCheckedAtMs === null
        ? null
        : { state: e.driftState as DriftState, checkedAtMs: e.driftCheckedAtMs, detail: e.driftDetail, observedTrustListDigest: e.observedTrustListDigest, presentedThumbprint: e.presentedThumbprint },
  };
}

/** A row for a server the GDS has not pushed to before. */
function emptyRow(applicationId: string, nowMs: number): PushedStateEntity {
  return {
    applicationId,
    trustListDigest: null,
    trustListWrittenAtMs: null,
    certificateSerialHex: null,
    certificateThumbprint: null,
    certificateWrittenAtMs: null,
    driftState: null,
    driftCheckedAtMs: null,
    driftDetail: null,
    observedTrustListDigest: null,
    presentedThumbprint: null,
    updatedAtMs: nowMs,
  };
}

/**
 * Records, inside the transaction `m` that marks `job` succeeded, what the server now holds: the
 * trust list the job wrote and read back, the certificate it put into use.
 */
export async function recordSucceededPush(m: EntityManager, job: PushJobRecord, nowMs: number): Promise<void> {
  const existing = await m.findOne(PushedStateEntity, { where: { applicationId: job.applicationId } });
  const row = existing ?? emptyRow(job.applicationId, nowMs);
  if (job.operation !== "cert" && job.trustListDigest) Object.assign(row, { trustListDigest: job.trustListDigest, trustListWrittenAtMs: nowMs });
  if (job.operation !== "trustlist" && job.issuedSerialHex) {
    const issued = await m.findOne(IssuedCertificateEntity, { select: { thumbprint: true }, where: { serialHex: job.issuedSerialHex } });
    Object.assign(row, { certificateSerialHex: job.issuedSerialHex, certificateThumbprint: issued?.thumbprint ?? null, certificateWrittenAtMs: nowMs });
  }
  row.updatedAtMs = nowMs;
  if (existing) await m.update(PushedStateEntity, { applicationId: job.applicationId }, row);
  else await m.insert(PushedStateEntity, row);
}

/** PushedStateStore on TypeORM. */
export class PushedStateRepository implements PushedStateStore {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async list(): Promise<PushedState[]> {
    return (await this.db.dataSource.manager.find(PushedStateEntity, { order: { applicationId: "ASC" } })).map(toState);
  }

  async get(applicationId: string): Promise<PushedState | null> {
    const e = await this.db.dataSource.manager.findOne(PushedStateEntity, { where: { applicationId } });
    return e ? toState(e) : null;
  }

  async recordDrift(applicationId: string, o: DriftObservation, audit: AuditEntry | null): Promise<void> {
    await this.db.transaction(async (m) => {
      const change: Partial<PushedStateEntity> = {
        driftState: o.state,
        driftCheckedAtMs: o.checkedAtMs,
        driftDetail: o.detail === null ? null : o.detail.slice(0, 4000),
        observedTrustListDigest: o.observedTrustListDigest,
        presentedThumbprint: o.presentedThumbprint,
        updatedAtMs: o.checkedAtMs,
      };
      const result = await m.update(PushedStateEntity, { applicationId }, change);
      if (!result.affected) await m.insert(PushedStateEntity, { ...emptyRow(applicationId, o.checkedAtMs), ...change });
      if (audit) await writeAudit(m, audit, this.clock.nowMs());
    });
  }
}
