import type { EntityManager } from "typeorm";
import type { AuditEntry } from "../services/ports";
import { AuditRecordEntity } from "./entities/audit-record-entity";
import { EntitySql } from "./entity-sql";

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

/** Writes an audit record with the manager of the transaction that made the change. */
export async function writeAudit(manager: EntityManager, entry: AuditEntry, atMs: number): Promise<void> {
  await EntitySql.of(manager.connection, AuditRecordEntity).insert(manager, auditRow(entry, atMs));
}
