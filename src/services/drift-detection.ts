import type { Clock } from "../domain/clock";
import { findDrift, repairOperation, type DriftFinding, type DriftObservation, type DriftPolicy, type DriftState } from "../domain/distribution";
import { isGdsError } from "../domain/errors";
import { PushFailure, trustListDigest, type PushOperation } from "../domain/push";
import { thumbprintOf } from "../domain/thumbprint";
import type { CertificateService } from "./certificate-service";
import type { PushedStateStore } from "./distribution-ports";
import { pushAudit, type PushDevices } from "./push-devices";
import type { PushService } from "./push-service";
import type { ManagedServer, TrustListDistribution } from "./trust-list-distribution";

/** How drift checks run. */
export interface DriftOptions {
  /** report: differences are recorded and shown; repair: they are also pushed back (default). */
  policy: DriftPolicy;
  /** Longest wait for one device. */
  timeoutMs: number;
  /** Devices read back at once. */
  concurrency: number;
}

export const DEFAULT_DRIFT_OPTIONS: DriftOptions = { policy: "repair", timeoutMs: 15_000, concurrency: 8 };

/** What a check found on one device. */
export interface DriftReport {
  applicationId: string;
  applicationUri: string;
  endpointUrl: string | null;
  /** "excluded": distribution leaves the device out (revoked certificate, no endpoint); it was not read. */
  state: DriftState | "excluded";
  findings: DriftFinding[];
  /** What differs, why it could not be read, or why it is excluded. */
  detail: string | null;
  /** The repair job queued, or why none was. */
  repair: { jobId: string; operation: PushOperation; created: boolean } | { notPossible: string } | null;
}

/** Attempts after the first of a repair job. */
const REPAIR_RETRIES = 2;

/**
 * Drift detection: reads back what each push-managed server presents and holds (its endpoint's
 * certificate, its ServerConfiguration trust list, read as a push verifies it) and compares it with
 * what the GDS last pushed. A difference is recorded and audited and, by policy, repaired by a push
 * job. Only certificates the GDS trusts are logged in to: push credentials never go to an endpoint
 * that presents an unknown certificate.
 */
export class DriftDetection {
  constructor(
    private readonly distribution: TrustListDistribution,
    private readonly devices: PushDevices,
    private readonly certificates: CertificateService,
    private readonly push: PushService,
    private readonly pushed: PushedStateStore,
    private readonly clock: Clock,
    private readonly options: DriftOptions = DEFAULT_DRIFT_OPTIONS,
  ) {}

  get policy(): DriftPolicy {
    return this.options.policy;
  }

  /** Checks the push-managed servers (or those named) now; `repair` and `timeoutMs` override the options. */
  async check(actor: string, options: { applicationIds?: string[]; repair?: boolean; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<DriftReport[]> {
    const servers = await this.distribution.managedServers(options.applicationIds);
    const repair = options.repair ?? this.options.policy === "repair";
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const reports: DriftReport[] = new Array(servers.length);
    let next = 0;
    const worker = async () => {
      while (next < servers.length && !options.signal?.aborted) {
        const i = next++;
        reports[i] = await this.checkOne(actor, servers[i], repair, timeoutMs, options.signal);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, servers.length) }, worker));
    return reports.filter((r) => r !== undefined);
  }

  private async checkOne(actor: string, listed: ManagedServer, repair: boolean, timeoutMs: number, signal: AbortSignal | undefined): Promise<DriftReport> {
    const { app, endpointUrl } = listed;
    const report: DriftReport = { applicationId: app.applicationId, applicationUri: app.applicationUri, endpointUrl, state: "excluded", findings: [], detail: listed.excluded, repair: null };
    if (listed.excluded) return report;
    // What the GDS pushed is read again here: a push may have finished since the servers were listed.
    const startedAtMs = this.clock.nowMs();
    const busy = await this.pushDuring(app.applicationId, startedAtMs);
    if (busy) return { ...report, detail: busy };
    const server: ManagedServer = { ...listed, pushed: (await this.pushed.get(app.applicationId)) ?? listed.pushed };
    const settings = await this.devices.settingsRow(app.applicationId);
    let presented: Buffer;
    try {
      presented = await this.devices.presentedCertificate(app, settings, timeoutMs);
    } catch (e) {
      return this.record(actor, server, { ...report, state: "unreachable", detail: failureText(e) }, null, null);
    }
    const presentedThumbprint = thumbprintOf(presented);
    const certificateFindings = findDrift(server.pushed, { presentedThumbprint, trustListDigest: null });
    const trusted = (await this.certificates.isCurrentCertificateOf(app.applicationId, presented)) || settings?.pinnedThumbprint === presentedThumbprint;
    if (!trusted) {
      // Logging in would hand the push credentials to whoever answers there: report, never repair.
      const findings = certificateFindings.length ? certificateFindings : [{ what: "certificate" as const, detail: `the endpoint presents certificate ${presentedThumbprint}, which the GDS does not trust` }];
      const notPossible = `the GDS does not trust the certificate the device presents (trust list not read): check it, then \`opcua-gds app trust\` and push again`;
      return this.record(actor, server, { ...report, state: "drifted", findings, detail: findings.map((f) => f.detail).join("; "), repair: repair ? { notPossible } : null }, presentedThumbprint, null);
    }
    let readBack: string;
    try {
      const device = await this.devices.open(actor, app, settings, timeoutMs, false);
      // A stopping scheduler must not wait for a slow device: closing the session ends the read.
      const onAbort = () => void device.close();
      signal?.addEventListener("abort", onAbort);
      try {
        if (signal?.aborted) throw new PushFailure("timeout", "the check was stopped");
        readBack = trustListDigest(await device.readTrustList());
      } finally {
        signal?.removeEventListener("abort", onAbort);
        await device.close();
      }
    } catch (e) {
      return this.record(actor, server, { ...report, state: "unreachable", detail: failureText(e) }, presentedThumbprint, null);
    }
    // A push that ran while the device was read changed what it holds and what the GDS recorded: judge nothing.
    const pushed = await this.pushDuring(app.applicationId, startedAtMs);
    if (pushed) return { ...report, detail: pushed };
    const findings = findDrift(server.pushed, { presentedThumbprint, trustListDigest: readBack });
    if (findings.length === 0) return this.record(actor, server, { ...report, state: "in-sync", detail: null }, presentedThumbprint, readBack);
    const drifted: DriftReport = { ...report, state: "drifted", findings, detail: findings.map((f) => f.detail).join("; ") };
    if (repair) {
      const operation = repairOperation(findings);
      const { job, created } = await this.push.queue(actor, app, operation, REPAIR_RETRIES);
      drifted.repair = { jobId: job.jobId, operation: created ? operation : job.operation, created };
    }
    return this.record(actor, server, drifted, presentedThumbprint, readBack);
  }

  /**
   * Why the server is not checked now: a push job to it is queued or running, or one changed since
   * `sinceMs` (its own verification reads the server back); null when none did.
   */
  private async pushDuring(applicationId: string, sinceMs: number): Promise<string | null> {
    const [newest] = await this.push.listJobs({ applicationId, limit: 1 });
    if (!newest) return null;
    if (newest.state === "queued" || newest.state === "running") return `a push to it is under way (job ${newest.jobId}, ${newest.state}): not checked`;
    if (newest.updatedAtMs >= sinceMs) return `a push to it ended during the check (job ${newest.jobId}, ${newest.state}): not checked`;
    return null;
  }

  /** Saves what was seen; a change of state or of what differs is audited with it. */
  private async record(actor: string, server: ManagedServer, report: DriftReport, presentedThumbprint: string | null, observedDigest: string | null): Promise<DriftReport> {
    if (report.state === "excluded") return report;
    const observation: DriftObservation = { state: report.state, checkedAtMs: this.clock.nowMs(), detail: report.detail, observedTrustListDigest: observedDigest, presentedThumbprint };
    const before = server.pushed.drift;
    const changed = !before || before.state !== observation.state || before.detail !== observation.detail;
    const repairText = report.repair && "jobId" in report.repair ? `; repair: job ${report.repair.jobId} (${report.repair.operation})` : "";
    const action = observation.state === "drifted" ? "DriftDetected" : observation.state === "unreachable" ? "DriftCheckFailed" : "DriftCleared";
    const audit = changed && !(observation.state === "in-sync" && !before) ? { ...pushAudit(actor, action, server.app, `${observation.detail ?? "in sync with what the GDS pushed"}${repairText}`), outcome: observation.state === "in-sync" ? "Good" : "Bad" } : null;
    await this.pushed.recordDrift(server.app.applicationId, observation, audit);
    return report;
  }
}

function failureText(e: unknown): string {
  if (e instanceof PushFailure || isGdsError(e)) return e.message;
  return `unexpected failure: ${(e as Error)?.message ?? String(e)}`;
}
