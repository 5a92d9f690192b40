import type { EntityManager, SelectQueryBuilder } from "typeorm";
import type { ApplicationFields, ApplicationRecord } from "../domain/application";
import type { Clock } from "../domain/clock";
import { GdsError } from "../domain/errors";
import type { ApplicationFilter, ApplicationStore, AuditEntry } from "../services/ports";
import { auditInsert, writeAudit } from "./audit-writer";
import type { Database } from "./database";
import { ApplicationEntity } from "./entities/application-entity";
import { changeAndInsert, EntitySql } from "./entity-sql";
import { CounterEntity } from "./entities/counter-entity";
import { isUniqueViolation } from "./unique-violation";

export const RECORD_COUNTER = "application_record";

function toRecord(e: ApplicationEntity): ApplicationRecord {
  return {
    applicationId: e.id,
    applicationUri: e.applicationUri,
    applicationType: e.applicationType,
    applicationNames: e.names,
    productUri: e.productUri,
    discoveryUrls: e.discoveryUrls,
    serverCapabilities: e.capabilities.split(",").filter((c) => c.length > 0),
    recordId: e.recordId,
    createdAtMs: e.createdAtMs,
    updatedAtMs: e.updatedAtMs,
  };
}

/** The columns of an application record (also what bulk loads of the benchmarks write). */
export function toColumns(fields: ApplicationFields): Partial<ApplicationEntity> {
  return {
    applicationUri: fields.applicationUri,
    applicationType: fields.applicationType,
    productUri: fields.productUri,
    defaultName: fields.applicationNames[0].text,
    names: fields.applicationNames,
    discoveryUrls: fields.discoveryUrls,
    capabilities: fields.serverCapabilities.length ? `,${fields.serverCapabilities.join(",")},` : "",
  };
}

/** Takes the next record id; the row lock it takes orders record ids by commit. */
async function nextRecordId(manager: EntityManager): Promise<number> {
  const rows: Array<{ value: string | number }> = await manager.query(
    manager.connection.driver.options.type === "postgres"
      ? "UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value"
      : "UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value",
    [RECORD_COUNTER],
  );
  // TypeORM's PostgreSQL driver answers an UPDATE with [rows, affectedCount].
  const row = Array.isArray(rows[0]) ? (rows[0] as unknown as Array<{ value: string | number }>)[0] : rows[0];
  return Number(row.value);
}

/** ApplicationStore on TypeORM (SQLite or PostgreSQL). */
export class ApplicationRepository implements ApplicationStore {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async insert(id: string, fields: ApplicationFields, nowMs: number, audit: AuditEntry): Promise<ApplicationRecord> {
    const row = { ...toColumns(fields), id, recordId: 0, createdAtMs: nowMs, updatedAtMs: nowMs } as ApplicationEntity;
    try {
      // One unit (one statement on PostgreSQL): the next record id, the record, its audit record. No
      // look-up first: the unique index on the ApplicationUri decides, also between racing
      // registrations, and the rollback returns the record id taken. The counter's row lock orders
      // record ids by commit.
      const taken = await changeAndInsert<{ value: string | number }>(
        this.db,
        { sql: "UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", parameters: [RECORD_COUNTER] },
        [
          { table: EntitySql.of(this.db.dataSource, ApplicationEntity), row, fromFirst: { property: "recordId", column: "value" } },
          auditInsert(this.db.dataSource, audit, this.clock.nowMs()),
        ],
      );
      if (!taken) throw new Error(`the counter ${RECORD_COUNTER} is missing`);
      return toRecord({ ...row, recordId: Number(taken.value) });
    } catch (e) {
      if (isUniqueViolation(e)) throw new GdsError("EntryExists", `an application with ApplicationUri "${fields.applicationUri}" is already registered`);
      throw e;
    }
  }

  async update(id: string, fields: ApplicationFields, nowMs: number, audit: AuditEntry): Promise<ApplicationRecord> {
    return this.db.transaction(async (m) => {
      const existing = await m.findOne(ApplicationEntity, { where: { id }, lock: this.db.kind === "postgres" ? { mode: "pessimistic_write" } : undefined });
      if (!existing) throw new GdsError("NotFound", `no application with id ${id}`);
      if (existing.applicationUri !== fields.applicationUri) {
        throw new GdsError("WriteNotSupported", `the ApplicationUri of a record cannot change (registered: "${existing.applicationUri}")`);
      }
      const changed = { ...toColumns(fields), recordId: await nextRecordId(m), updatedAtMs: nowMs };
      await m.update(ApplicationEntity, { id }, changed);
      await writeAudit(m, audit, this.clock.nowMs());
      return toRecord({ ...existing, ...changed } as ApplicationEntity);
    });
  }

  async remove(id: string, audit: AuditEntry): Promise<ApplicationRecord> {
    return this.db.transaction(async (m) => {
      const existing = await m.findOne(ApplicationEntity, { where: { id } });
      if (!existing) throw new GdsError("NotFound", `no application with id ${id}`);
      await m.delete(ApplicationEntity, { id });
      await writeAudit(m, audit, this.clock.nowMs());
      return toRecord(existing);
    });
  }

  async get(id: string): Promise<ApplicationRecord | null> {
    // Plain SQL: every certificate call reads its application.
    const [e] = await EntitySql.of(this.db.dataSource, ApplicationEntity).where(this.db.reader, "id", id);
    return e ? toRecord(e) : null;
  }

  async exists(id: string): Promise<boolean> {
    return EntitySql.of(this.db.dataSource, ApplicationEntity).exists(this.db.reader, "id", id);
  }

  async findByUri(applicationUri: string): Promise<ApplicationRecord[]> {
    const rows = await this.db.dataSource.manager.find(ApplicationEntity, { where: { applicationUri } });
    return rows.map(toRecord);
  }

  async list(): Promise<ApplicationRecord[]> {
    const rows = await this.db.dataSource.manager.find(ApplicationEntity, { order: { recordId: "ASC" } });
    return rows.map(toRecord);
  }

  /** One batch of `scan`: the records after `after` that SQL LIKE lets through, in record-id order. */
  scanBatchQuery(filter: ApplicationFilter, after: number, batchSize: number): SelectQueryBuilder<ApplicationEntity> {
    const qb = this.db.dataSource.manager
      .createQueryBuilder(ApplicationEntity, "a")
      .where("a.recordId > :after", { after })
      .orderBy("a.recordId", "ASC")
      .limit(batchSize);
    if (filter.types) qb.andWhere("a.applicationType IN (:...types)", { types: filter.types });
    // SQL LIKE only narrows; the compiled pattern decides (scan).
    if (filter.name) qb.andWhere("a.defaultName LIKE :name ESCAPE '\\'", { name: filter.name.sqlLike });
    if (filter.uri) qb.andWhere("a.applicationUri LIKE :uri ESCAPE '\\'", { uri: filter.uri.sqlLike });
    if (filter.productUri) qb.andWhere("a.productUri LIKE :product ESCAPE '\\'", { product: filter.productUri.sqlLike });
    filter.capabilities.forEach((cap, i) => qb.andWhere(`a.capabilities LIKE :cap${i}`, { [`cap${i}`]: `%,${cap},%` }));
    return qb;
  }

  async *scan(filter: ApplicationFilter, batchSize: number): AsyncIterable<ApplicationRecord> {
    let after = filter.afterRecordId;
    for (;;) {
      const rows = await this.scanBatchQuery(filter, after, batchSize).getMany();
      for (const row of rows) {
        const record = toRecord(row);
        if (filter.name && !filter.name.test(row.defaultName)) continue;
        if (filter.uri && !filter.uri.test(row.applicationUri)) continue;
        if (filter.productUri && !filter.productUri.test(row.productUri)) continue;
        if (!filter.capabilities.every((c) => record.serverCapabilities.includes(c))) continue;
        yield record;
      }
      if (rows.length < batchSize) return;
      after = rows[rows.length - 1].recordId;
    }
  }

  async counterResetTimeMs(): Promise<number> {
    const row = await this.db.dataSource.manager.findOneOrFail(CounterEntity, { where: { name: RECORD_COUNTER } });
    return row.resetAtMs;
  }
}
