import type { ApplicationFields, ApplicationRecord, ApplicationType } from "../domain/application";
import type { LikePattern } from "../domain/like-pattern";
import type { Role } from "../domain/roles";

/** What an audited change records besides the change itself. */
export interface AuditEntry {
  actor: string;
  action: string;
  subject: string;
  outcome: string;
  details?: string;
}

/** Filter of QueryApplications and QueryServers, already compiled. */
export interface ApplicationFilter {
  /** Only records with a greater record id. */
  afterRecordId: number;
  name?: LikePattern;
  uri?: LikePattern;
  productUri?: LikePattern;
  /** Every one of these capabilities must be present. */
  capabilities: string[];
  /** Only these types; null for all. */
  types: ApplicationType[] | null;
}

/** Persistence of application records; every change is one transaction with its audit entry. */
export interface ApplicationStore {
  /** Inserts a record; `EntryExists` when the ApplicationUri is taken. */
  insert(id: string, fields: ApplicationFields, nowMs: number, audit: AuditEntry): Promise<ApplicationRecord>;
  /** Replaces a record's fields; `NotFound`, or `WriteNotSupported` when the URI would change. */
  update(id: string, fields: ApplicationFields, nowMs: number, audit: AuditEntry): Promise<ApplicationRecord>;
  /** Deletes a record and returns what it held; `NotFound` when there is none. */
  remove(id: string, audit: AuditEntry): Promise<ApplicationRecord>;
  get(id: string): Promise<ApplicationRecord | null>;
  findByUri(applicationUri: string): Promise<ApplicationRecord[]>;
  /**
   * Yields matching records in record-id order, in batches, until the consumer stops; the
   * consumer decides how many it needs (a QueryServers record counts per DiscoveryUrl).
   */
  scan(filter: ApplicationFilter, batchSize: number): AsyncIterable<ApplicationRecord>;
  list(): Promise<ApplicationRecord[]>;
  counterResetTimeMs(): Promise<number>;
}

/** A stored user. */
export interface UserRow {
  name: string;
  passwordHash: string | null;
  roles: Role[];
  certificateThumbprint: string | null;
  createdAtMs: number;
}

/** Persistence of users. */
export interface UserStore {
  insert(user: UserRow, audit: AuditEntry): Promise<void>;
  remove(name: string, audit: AuditEntry): Promise<boolean>;
  get(name: string): Promise<UserRow | null>;
  getByCertificate(thumbprint: string): Promise<UserRow | null>;
  list(): Promise<UserRow[]>;
  count(): Promise<number>;
}

/** An audit record as read back. */
export interface AuditRecord extends AuditEntry {
  seq: number;
  atMs: number;
}

/** Reading the audit trail (writing happens inside each store's own transactions). */
export interface AuditLog {
  append(entry: AuditEntry): Promise<void>;
  since(sinceMs: number, limit: number): Promise<AuditRecord[]>;
}
