import type { DataSource, EntityManager } from "typeorm";
import type { AuditEntry } from "../services/ports";
import { AuditRecordEntity } from "./entities/audit-record-entity";
import { EntitySql, type RowOf } from "./entity-sql";

/** The row of an audit record (its sequence number is the database's). */
export function auditRow(entry: AuditEntry, atMs: number): AuditRecordEntity {
  return {
    seq: 0,
    atMs,
    actor: entry.actor.slice(0, 256),
    action: entry.action.slice(0, 64),
    subject: entry.subject.slice(0, 1100),
    outcome: entry.outcome.slice(0, 64),
    details: entry.details ?? null,
  };
}

/** An audit record to insert with a change (changeAndInsert). */
export function auditInsert(dataSource: DataSource, entry: AuditEntry, atMs: number): RowOf<AuditRecordEntity> {
  return { table: EntitySql.of(dataSource, AuditRecordEntity), row: auditRow(entry, atMs) };
}

/** Writes an audit record with the manager of the transaction that made the change. */
export async function writeAudit(manager: EntityManager, entry: AuditEntry, atMs: number): Promise<void> {
  await EntitySql.of(manager.connection, AuditRecordEntity).insert(manager, auditRow(entry, atMs));
}
