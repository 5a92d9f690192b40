import { randomUUID } from "node:crypto";
import {
  ApplicationType,
  CONTROL_CHARACTERS,
  RECORD_LIMITS,
  bestName,
  isServerType,
  validateApplicationFields,
  type ApplicationFields,
  type ApplicationRecord,
  type LocalizedName,
} from "../domain/application";
import { formatApplicationId } from "../domain/application-id";
import type { Clock } from "../domain/clock";
import { GdsError, invalidArgument } from "../domain/errors";
import { compileLikePattern, type LikePattern } from "../domain/like-pattern";
import type { ApplicationFilter, ApplicationStore } from "./ports";

/** Filters common to QueryApplications and QueryServers (OPC 10000-12 §6.5.10, §6.5.11). */
export interface QueryParameters {
  startingRecordId: number;
  /** 0 means no limit. */
  maxRecordsToReturn: number;
  applicationName?: string | null;
  applicationUri?: string | null;
  productUri?: string | null;
  capabilities?: string[] | null;
  preferredLocales?: string[];
}

/** QueryApplications' ApplicationType filter: 0 (and 3) all, 1 servers, 2 clients. */
export interface QueryApplicationsParameters extends QueryParameters {
  applicationType: number;
}

/** One ApplicationDescription of a QueryApplications answer (mapping of OPC 10000-12 Table 13). */
export interface ApplicationDescriptionResult {
  applicationUri: string;
  productUri: string;
  applicationName: LocalizedName;
  applicationType: ApplicationType;
  discoveryUrls: string[];
}

export interface QueryApplicationsResult {
  lastCounterResetTimeMs: number;
  /** The StartingRecordId for the next call, 0 when nothing is left. */
  nextRecordId: number;
  applications: ApplicationDescriptionResult[];
}

/** One ServerOnNetwork of a QueryServers answer: a registered server's DiscoveryUrl. */
export interface ServerOnNetworkResult {
  recordId: number;
  serverName: string;
  discoveryUrl: string;
  serverCapabilityIdentifiers: string[];
}

export interface QueryServersResult {
  lastCounterResetTimeMs: number;
  servers: ServerOnNetworkResult[];
}

const SCAN_BATCH = 500;
const ALL_TYPES = null;
const SERVER_TYPES = [ApplicationType.Server, ApplicationType.ClientAndServer, ApplicationType.DiscoveryServer];
const CLIENT_TYPES = [ApplicationType.Client, ApplicationType.ClientAndServer];

function pattern(value: string | null | undefined, what: string): LikePattern | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  if (typeof value !== "string") throw invalidArgument(`${what} must be a string`);
  if (value.length > RECORD_LIMITS.uriLength) throw invalidArgument(`${what} is longer than ${RECORD_LIMITS.uriLength} characters`);
  // No record holds one; PostgreSQL would even refuse a NUL in the query (found by fuzzing).
  if (CONTROL_CHARACTERS.test(value)) throw invalidArgument(`${what} contains control characters`);
  return compileLikePattern(value);
}

function capabilityFilter(capabilities: string[] | null | undefined): string[] {
  const list = (capabilities ?? []).filter((c) => typeof c === "string" && c.length > 0);
  if (list.length > RECORD_LIMITS.capabilities) throw invalidArgument(`at most ${RECORD_LIMITS.capabilities} capabilities can be given`);
  if (list.some((c) => c.length > RECORD_LIMITS.capabilityLength)) throw invalidArgument("a capability identifier is too long");
  if (list.some((c) => CONTROL_CHARACTERS.test(c))) throw invalidArgument("a capability identifier contains control characters");
  return list;
}

function recordId(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw invalidArgument(`${what} must be a UInt32`);
  return value;
}

/**
 * The Directory of OPC 10000-12: registration, lookup and queries of applications. Access control
 * happens before these calls; `actor` only names who acted, for the audit trail.
 */
export class DirectoryService {
  constructor(
    private readonly applications: ApplicationStore,
    private readonly clock: Clock,
    /** Revokes the certificates issued to an application before its record goes (§6.5.5). */
    private readonly revokeCertificatesOf: (actor: string, applicationId: string) => Promise<void> = async () => undefined,
    private readonly newId: () => string = randomUUID,
  ) {}

  /** RegisterApplication: stores a new record and returns its id (a GUID). */
  async registerApplication(actor: string, input: Partial<ApplicationFields>, action: "RegisterApplication" | "SelfRegistration" = "RegisterApplication"): Promise<string> {
    const fields = validateApplicationFields(input);
    const id = this.newId().toLowerCase();
    await this.applications.insert(id, fields, this.clock.nowMs(), {
      actor,
      action,
      subject: `${formatApplicationId(id)} ${fields.applicationUri}`,
      outcome: "Good",
    });
    return id;
  }

  /** UpdateApplication: replaces the fields of a record; its ApplicationUri cannot change. */
  async updateApplication(actor: string, id: string, input: Partial<ApplicationFields>): Promise<void> {
    const fields = validateApplicationFields(input);
    await this.applications.update(id, fields, this.clock.nowMs(), {
      actor,
      action: "UpdateApplication",
      subject: `${formatApplicationId(id)} ${fields.applicationUri}`,
      outcome: "Good",
    });
  }

  /**
   * UnregisterApplication: revokes the application's certificates, then deletes its record and
   * returns what it held. Revocation comes first: a failure in between leaves a record whose
   * certificates are revoked, never a deleted record with certificates still trusted.
   */
  async unregisterApplication(actor: string, id: string): Promise<ApplicationRecord> {
    await this.getApplication(id);
    await this.revokeCertificatesOf(actor, id);
    return this.applications.remove(id, {
      actor,
      action: "UnregisterApplication",
      subject: formatApplicationId(id),
      outcome: "Good",
    });
  }

  /** FindApplications: the records with exactly this ApplicationUri (zero or one). */
  async findApplications(applicationUri: string): Promise<ApplicationRecord[]> {
    if (typeof applicationUri !== "string" || applicationUri.length === 0) throw invalidArgument("ApplicationUri is required");
    if (applicationUri.length > RECORD_LIMITS.uriLength) throw invalidArgument(`ApplicationUri is longer than ${RECORD_LIMITS.uriLength} characters`);
    if (CONTROL_CHARACTERS.test(applicationUri)) throw invalidArgument("ApplicationUri contains control characters");
    return this.applications.findByUri(applicationUri);
  }

  /** GetApplication: one record by id, `NotFound` when there is none. */
  async getApplication(id: string): Promise<ApplicationRecord> {
    const record = await this.applications.get(id);
    if (!record) throw new GdsError("NotFound", `no application with id ${formatApplicationId(id)}`);
    return record;
  }

  /** Every record, in record-id order (CLI). */
  async listApplications(): Promise<ApplicationRecord[]> {
    return this.applications.list();
  }

  private filterOf(q: QueryParameters, types: ApplicationType[] | null): ApplicationFilter {
    return {
      afterRecordId: recordId(q.startingRecordId, "StartingRecordId"),
      name: pattern(q.applicationName, "ApplicationName"),
      uri: pattern(q.applicationUri, "ApplicationUri"),
      productUri: pattern(q.productUri, "ProductUri"),
      capabilities: capabilityFilter(q.capabilities),
      types,
    };
  }

  /** QueryApplications: ApplicationDescriptions of matching records, paged by record id. */
  async queryApplications(q: QueryApplicationsParameters): Promise<QueryApplicationsResult> {
    const types = q.applicationType === 1 ? SERVER_TYPES : q.applicationType === 2 ? CLIENT_TYPES : q.applicationType === 0 || q.applicationType === 3 ? ALL_TYPES : undefined;
    if (types === undefined) throw invalidArgument(`ApplicationType filter ${q.applicationType} is not 0 (all), 1 (servers) or 2 (clients)`);
    const filter = this.filterOf(q, types);
    const max = recordId(q.maxRecordsToReturn, "MaxRecordsToReturn");
    const found: ApplicationRecord[] = [];
    let more = false;
    for await (const record of this.applications.scan(filter, max > 0 ? Math.min(max + 1, SCAN_BATCH) : SCAN_BATCH)) {
      if (max > 0 && found.length === max) {
        more = true;
        break;
      }
      found.push(record);
    }
    return {
      lastCounterResetTimeMs: await this.applications.counterResetTimeMs(),
      nextRecordId: more ? found[found.length - 1].recordId : 0,
      applications: found.map((r) => ({
        applicationUri: r.applicationUri,
        productUri: r.productUri,
        applicationName: bestName(r.applicationNames, q.preferredLocales),
        applicationType: r.applicationType,
        discoveryUrls: r.discoveryUrls,
      })),
    };
  }

  /**
   * QueryServers: one ServerOnNetwork per DiscoveryUrl of each matching server. MaxRecordsToReturn
   * counts those entries; an application's URLs are never split across two answers, so a client
   * that continues after the last RecordId it received misses none.
   */
  async queryServers(q: QueryParameters): Promise<QueryServersResult> {
    const filter = this.filterOf(q, SERVER_TYPES);
    const max = recordId(q.maxRecordsToReturn, "MaxRecordsToReturn");
    const servers: ServerOnNetworkResult[] = [];
    for await (const r of this.applications.scan(filter, SCAN_BATCH)) {
      if (!isServerType(r.applicationType)) continue;
      if (max > 0 && servers.length > 0 && servers.length + r.discoveryUrls.length > max) break;
      const serverName = bestName(r.applicationNames, q.preferredLocales).text;
      for (const discoveryUrl of r.discoveryUrls) {
        servers.push({ recordId: r.recordId, serverName, discoveryUrl, serverCapabilityIdentifiers: r.serverCapabilities });
      }
      if (max > 0 && servers.length >= max) break;
    }
    return { lastCounterResetTimeMs: await this.applications.counterResetTimeMs(), servers };
  }
}
