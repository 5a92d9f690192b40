import { ApplicationType, type ApplicationRecord } from "../domain/application";
import { DEFAULT_APPLICATION_GROUP } from "../domain/certificate-groups";
import { currentDrift, holdsTrustList, type DriftObservation, type PushedState } from "../domain/distribution";
import { retryDelayMs, trustListDigest, writesTrustList, type PushJobRecord, type RetryPolicy } from "../domain/push";
import type { CertificateService } from "./certificate-service";
import type { PushedStateStore } from "./distribution-ports";
import type { ApplicationStore } from "./ports";
import type { PushDevices } from "./push-devices";
import type { PushJobStore } from "./push-ports";
import type { PushService } from "./push-service";

/** Attempts after the first of a trust-list job (each with the push back-off). */
const TRUST_LIST_RETRIES = 2;

/**
 * Wait before a device whose trust-list jobs failed in a row gets another one, doubling from a
 * minute up to an hour: an unplugged device costs an attempt an hour, not one per distribution run.
 */
const FAILED_JOB_BACKOFF: RetryPolicy = { firstDelayMs: 60_000, maxDelayMs: 3_600_000 };

/**
 * How long after another actor's push (an operator's run) distribution waits before it acts itself,
 * in distribution rounds (OPCUA_GDS_DISTRIBUTION_INTERVAL): two minutes at the default 30 s.
 */
const OTHER_RUN_GRACE_ROUNDS = 4;

/** One push-managed server as distribution and drift detection see it. */
export interface ManagedServer {
  app: ApplicationRecord;
  groupName: string;
  endpointUrl: string | null;
  pushed: PushedState;
  /** Digest of the trust list the server should hold now (its group's, plus what was trusted on it). */
  expectedDigest: string;
  current: boolean;
  /** Why distribution leaves the server out (its certificate was revoked, no endpoint); null: it is served. */
  excluded: string | null;
  activeJob: PushJobRecord | null;
}

/** Trust-list state of one group, for `status` and metrics. */
export interface GroupTrustListStatus {
  group: string;
  /** Push-managed servers distribution serves (excluded ones are not counted). */
  servers: number;
  /** Of those, the ones known to hold the group's current trust list. */
  current: number;
  excluded: number;
  /** Drift checks, by their last result. */
  drift: { inSync: number; drifted: number; unreachable: number; unchecked: number };
}

/** What one distribution run did per server it looked at. */
export interface DistributionEntry {
  applicationId: string;
  applicationUri: string;
  action: "current" | "queued" | "waiting" | "excluded";
  /** Job queued or waited for; why it waits or is excluded. */
  detail: string;
  jobId: string | null;
}

/**
 * Trust-list distribution (OPC 10000-12 §7.10): whenever a group's trust-list content changes (a new
 * CA, a CRL after a revocation, a re-signed CRL) every push-managed server of the group gets a push
 * job writing the new list. It compares digests, so it follows any change whoever made it; the jobs
 * are run by the push job runner.
 */
export class TrustListDistribution {
  constructor(
    private readonly applications: ApplicationStore,
    private readonly certificates: CertificateService,
    private readonly devices: PushDevices,
    private readonly push: PushService,
    private readonly jobs: PushJobStore,
    private readonly pushed: PushedStateStore,
    private readonly intervalMs: number,
  ) {}

  /**
   * The push-managed servers: server applications a push has succeeded on, with the trust list each
   * should hold and whether it does. `applicationIds` narrows the list.
   */
  async managedServers(applicationIds?: string[]): Promise<ManagedServer[]> {
    const wanted = applicationIds ? new Set(applicationIds) : null;
    const group = DEFAULT_APPLICATION_GROUP;
    const content = await this.certificates.trustListContent(group);
    const out: ManagedServer[] = [];
    for (const pushed of await this.pushed.list()) {
      if (wanted && !wanted.has(pushed.applicationId)) continue;
      const app = await this.applications.get(pushed.applicationId);
      if (!app || app.applicationType === ApplicationType.Client) continue;
      const settings = await this.devices.settingsRow(app.applicationId);
      const endpointUrl = this.devices.endpointOf(app, settings);
      const expectedDigest = trustListDigest(await this.devices.trustListFor(settings, content));
      const [activeJob] = await this.jobs.list({ applicationId: app.applicationId, states: ["queued", "running"], limit: 1 });
      out.push({
        app,
        groupName: group.name,
        endpointUrl,
        pushed,
        expectedDigest,
        current: holdsTrustList(pushed, expectedDigest),
        excluded: await this.exclusion(pushed, endpointUrl),
        activeJob: activeJob ?? null,
      });
    }
    return out;
  }

  /**
   * A server whose GDS certificate was revoked is no longer trusted by the GDS: pushing to it would
   * be refused at first contact, and counting it would keep "N of M" below M for good.
   */
  private async exclusion(pushed: PushedState, endpointUrl: string | null): Promise<string | null> {
    if (!endpointUrl) return "no opc.tcp endpoint";
    if (pushed.certificateSerialHex) {
      const rows = await this.certificates.listCertificates({ applicationId: pushed.applicationId });
      const row = rows.find((r) => r.serialHex === pushed.certificateSerialHex);
      if (row && row.revokedAtMs !== null) return `its certificate ${pushed.certificateSerialHex} was revoked: trust it again (\`opcua-gds app trust\`) and push a new certificate`;
    }
    return null;
  }

  /** N of M per group, and drift checks by result. */
  async status(): Promise<GroupTrustListStatus[]> {
    const servers = await this.managedServers();
    const groups = new Map<string, GroupTrustListStatus>();
    groups.set(DEFAULT_APPLICATION_GROUP.name, emptyStatus(DEFAULT_APPLICATION_GROUP.name));
    for (const s of servers) {
      const g = groups.get(s.groupName) ?? emptyStatus(s.groupName);
      groups.set(s.groupName, g);
      if (s.excluded) {
        g.excluded++;
        continue;
      }
      g.servers++;
      if (s.current) g.current++;
      countDrift(g.drift, currentDrift(s.pushed));
    }
    return [...groups.values()];
  }

  /**
   * One distribution run: every served server that does not hold its current trust list gets a
   * trust-list job, unless it has an active job (no duplicate; a job that writes the trust list
   * writes the current one when it runs) or its last jobs failed and it waits (FAILED_JOB_BACKOFF).
   * The jobs are `actor`'s (the scheduler's), for the push job runner.
   */
  async distribute(actor: string, nowMs: number, signal?: AbortSignal): Promise<DistributionEntry[]> {
    const entries: DistributionEntry[] = [];
    for (const s of await this.managedServers()) {
      if (signal?.aborted) break;
      const entry = (action: DistributionEntry["action"], detail: string, jobId: string | null = null) =>
        entries.push({ applicationId: s.app.applicationId, applicationUri: s.app.applicationUri, action, detail, jobId });
      if (s.excluded) entry("excluded", s.excluded);
      else if (s.current) entry("current", "holds the current trust list");
      else if (s.activeJob) entry("waiting", `job ${s.activeJob.jobId} (${s.activeJob.operation}, ${s.activeJob.state})${writesTrustList(s.activeJob.operation) ? " writes it" : " comes first"}`, s.activeJob.jobId);
      else {
        const hold = await this.holdUntil(s.app.applicationId, actor);
        // Read again after seeing no active job: a job that finished since the first read recorded its
        // trust list in the same transaction that ended it.
        const now = await this.pushed.get(s.app.applicationId);
        if (now && holdsTrustList(now, s.expectedDigest)) entry("current", "holds the current trust list");
        else if (hold && hold.untilMs > nowMs) entry("waiting", `${hold.why}; next try after ${new Date(hold.untilMs).toISOString()}`);
        else {
          const { job, created } = await this.push.queue(actor, s.app, "trustlist", TRUST_LIST_RETRIES);
          entry(created ? "queued" : "waiting", `job ${job.jobId}`, job.jobId);
        }
      }
    }
    return entries;
  }

  /**
   * Until when distribution leaves a device alone: after failed jobs in a row (FAILED_JOB_BACKOFF),
   * or for a moment after another actor's push (a CLI run sends the trust list again itself at its
   * end when it changed during the run; two pushes of one device at once only get in each other's way).
   */
  private async holdUntil(applicationId: string, actor: string): Promise<{ untilMs: number; why: string } | null> {
    const recent = await this.jobs.list({ applicationId, limit: 12 });
    if (recent.length === 0) return null;
    const latest = recent[0];
    const finishedAtMs = latest.finishedAtMs ?? latest.updatedAtMs;
    const failures = recent.findIndex((j) => j.state !== "failed");
    const failed = failures < 0 ? recent.length : failures;
    if (failed > 0) return { untilMs: finishedAtMs + retryDelayMs(failed, FAILED_JOB_BACKOFF), why: `its last ${failed} push(es) failed` };
    if (latest.createdBy !== actor) return { untilMs: finishedAtMs + OTHER_RUN_GRACE_ROUNDS * this.intervalMs, why: `${latest.createdBy} pushed to it at ${new Date(finishedAtMs).toISOString()}` };
    return null;
  }
}

function emptyStatus(group: string): GroupTrustListStatus {
  return { group, servers: 0, current: 0, excluded: 0, drift: { inSync: 0, drifted: 0, unreachable: 0, unchecked: 0 } };
}

function countDrift(counts: GroupTrustListStatus["drift"], d: DriftObservation | null): void {
  if (!d) counts.unchecked++;
  else if (d.state === "in-sync") counts.inSync++;
  else if (d.state === "drifted") counts.drifted++;
  else counts.unreachable++;
}
