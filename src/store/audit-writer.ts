import type { EntityManager } from "typeorm";
import type { AuditEntry } from "../services/ports";
import { AuditRecordEntity } from "./entities/audit-record-entity";

/** Writes an audit record with the manager of the transaction that made the change. */
export async function writeAudit(manager: EntityManager, entry: AuditEntry, atMs: number): Promise<void> {
  await manager.insert(AuditRecordEntity, {
    atMs,
    actor: entry.actor.slice(0, 256),
    action: entry.action.slice(0, 64),
    subject: entry.subject.slice(0, 1100),
    outcome: entry.outcome.slice(0, 64),
    details: entry.details ?? null,
  });
}
