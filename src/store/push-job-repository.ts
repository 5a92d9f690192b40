import { In, type EntityManager } from "typeorm";
import type { Clock } from "../domain/clock";
import { QUEUED_JOB_CREATOR_PREFIX, parsePushStep, type PushJobRecord, type PushJobState, type PushOperation } from "../domain/push";
import type { AuditEntry } from "../services/ports";
import type { PushJobFilter, PushJobStore } from "../services/push-ports";
import { writeAudit } from "./audit-writer";
import type { Database } from "./database";
import { PushJobEntity } from "./entities/push-job-entity";
import { recordSucceededPush } from "./pushed-state-repository";
import { isUniqueViolation } from "./unique-violation";

function toRecord(e: PushJobEntity): PushJobRecord {
  return {
    ...e,
    operation: e.operation as PushOperation,
    state: e.state as PushJobState,
    step: parsePushStep(e.step),
    applyChangesRequired: Boolean(e.applyChangesRequired),
  };
}

/** Columns of a change; the id never changes. */
function columnsOf(change: Partial<PushJobRecord>): Partial<PushJobEntity> {
  const { jobId: _id, ...rest } = change;
  if (rest.reason) rest.reason = rest.reason.slice(0, 4000);
  if (rest.lastStatus) rest.lastStatus = rest.lastStatus.slice(0, 64);
  return rest;
}

/** TypeORM answers UPDATE ... RETURNING with rows on SQLite and with [rows, count] on PostgreSQL. */
function returnedRows(result: unknown): Array<{ id: string }> {
  const rows = result as unknown[];
  return (Array.isArray(rows[0]) ? rows[0] : rows) as Array<{ id: string }>;
}

/** PushJobStore on TypeORM. */
export class PushJobRepository implements PushJobStore {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async enqueue(job: PushJobRecord, audit: AuditEntry): Promise<{ job: PushJobRecord; created: boolean }> {
    // Twice at most: an active job found by the unique index may finish before it is read.
    for (let round = 0; round < 3; round++) {
      try {
        await this.db.transaction(async (m) => {
          await m.insert(PushJobEntity, { ...job, createdBy: job.createdBy.slice(0, 256) });
          await writeAudit(m, audit, this.clock.nowMs());
        });
        return { job, created: true };
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
      }
      const active = await this.db.dataSource.manager.findOne(PushJobEntity, { where: { applicationId: job.applicationId, state: In(["queued", "running"]) } });
      if (active) return { job: toRecord(active), created: false };
    }
    throw new Error(`could not queue a push job for ${job.applicationId}: its active job keeps changing`);
  }

  async claim(jobIds: string[], owner: string, nowMs: number, leaseExpiresAtMs: number): Promise<PushJobRecord | null> {
    if (jobIds.length === 0) return null;
    return this.db.transaction(async (m) => {
      const due = "((state = 'queued' AND next_attempt_at <= :now) OR (state = 'running' AND lease_expires_at < :now))";
      // PostgreSQL: rows another instance is claiming right now are skipped, not waited for.
      // SQLite: the single UPDATE runs under the database's write lock, so claims are serialised.
      const pick =
        this.db.kind === "postgres"
          ? `SELECT id FROM push_jobs WHERE id = ANY(:ids) AND ${due} ORDER BY next_attempt_at, created_at LIMIT 1 FOR UPDATE SKIP LOCKED`
          : `SELECT id FROM push_jobs WHERE id IN (:...ids) AND ${due} ORDER BY next_attempt_at, created_at LIMIT 1`;
      const [sql, parameters] = m.connection.driver.escapeQueryWithParameters(
        `UPDATE push_jobs SET state = 'running', owner = :owner, lease_expires_at = :lease, attempts = attempts + 1, updated_at = :now WHERE id = (${pick}) RETURNING id`,
        { ids: jobIds, owner, lease: leaseExpiresAtMs, now: nowMs },
      );
      const [row] = returnedRows(await m.query(sql, parameters));
      if (!row) return null;
      return toRecord(await m.findOneOrFail(PushJobEntity, { where: { jobId: row.id } }));
    });
  }

  async update(jobId: string, owner: string | null, change: Partial<PushJobRecord>, nowMs: number, audit?: AuditEntry): Promise<boolean> {
    return this.db.transaction(async (m: EntityManager) => {
      const qb = m.createQueryBuilder().update(PushJobEntity).set({ ...columnsOf(change), updatedAtMs: nowMs }).where("id = :jobId", { jobId });
      if (owner !== null) qb.andWhere("owner = :owner", { owner });
      const result = await qb.execute();
      if (!result.affected) return false;
      if (change.state === "succeeded") await recordSucceededPush(m, toRecord(await m.findOneOrFail(PushJobEntity, { where: { jobId } })), nowMs);
      if (audit) await writeAudit(m, audit, this.clock.nowMs());
      return true;
    });
  }

  async get(jobId: string): Promise<PushJobRecord | null> {
    const e = await this.db.dataSource.manager.findOne(PushJobEntity, { where: { jobId } });
    return e ? toRecord(e) : null;
  }

  async list(filter: PushJobFilter): Promise<PushJobRecord[]> {
    const rows = await this.db.dataSource.manager.find(PushJobEntity, {
      where: { ...(filter.applicationId ? { applicationId: filter.applicationId } : {}), ...(filter.states ? { state: In(filter.states) } : {}) },
      order: { createdAtMs: "DESC" },
      take: filter.limit,
    });
    return rows.map(toRecord);
  }

  async keepAlive(jobIds: string[], nowMs: number): Promise<void> {
    if (jobIds.length === 0) return;
    await this.db.dataSource.manager
      .createQueryBuilder()
      .update(PushJobEntity)
      .set({ updatedAtMs: nowMs })
      .where("id IN (:...jobIds) AND state = 'queued'", { jobIds })
      .execute();
  }

  async due(nowMs: number, ownCreator: string, takeoverAfterMs: number, limit: number): Promise<PushJobRecord[]> {
    const takeover = nowMs - takeoverAfterMs;
    const rows = await this.db.dataSource.manager
      .createQueryBuilder(PushJobEntity, "j")
      .where(
        "((j.state = 'queued' AND j.next_attempt_at <= :now AND (j.updated_at <= :takeover OR j.created_by = :own OR j.created_by LIKE :queued)) OR (j.state = 'running' AND (j.lease_expires_at < :takeover OR ((j.created_by = :own OR j.created_by LIKE :queued) AND j.lease_expires_at < :now))))",
        // The prefix has no wildcard characters of LIKE: it matches itself only.
        { now: nowMs, takeover, own: ownCreator, queued: `${QUEUED_JOB_CREATOR_PREFIX}%` },
      )
      .orderBy("j.next_attempt_at", "ASC")
      .addOrderBy("j.created_at", "ASC")
      .take(limit)
      .getMany();
    return rows.map(toRecord);
  }

  async pushManagedApplications(): Promise<string[]> {
    const rows: Array<{ application_id: string }> = await this.db.dataSource.query(
      `SELECT DISTINCT j.application_id FROM push_jobs j LEFT JOIN push_settings s ON s.application_id = j.application_id
       WHERE j.state = 'succeeded' AND j.operation IN ('cert', 'all') AND (s.auto_renew IS NULL OR s.auto_renew = ${this.db.kind === "postgres" ? "TRUE" : "1"})`,
    );
    return rows.map((r) => r.application_id);
  }
}
