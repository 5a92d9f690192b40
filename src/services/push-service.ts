import { randomBytes, randomUUID } from "node:crypto";
import { ApplicationType, type ApplicationRecord } from "../domain/application";
import { formatApplicationId } from "../domain/application-id";
import { CERTIFICATE_TYPES, DEFAULT_APPLICATION_GROUP } from "../domain/certificate-groups";
import type { Clock } from "../domain/clock";
import { invalidArgument, isGdsError } from "../domain/errors";
import { compileLikePattern } from "../domain/like-pattern";
import { nextWindowOpening, parseMaintenanceWindow } from "../domain/maintenance-window";
import {
  DEFAULT_RETRY_POLICY,
  PushFailure,
  hasReached,
  queuedJobCreator,
  replacesCertificate,
  retryDelayMs,
  trustListDigest,
  writesTrustList,
  type PushJobRecord,
  type PushOperation,
  type PushOutcome,
  type PushStep,
  type RetryPolicy,
} from "../domain/push";
import type { RenewalReason } from "../domain/renewal";
import { thumbprintOf } from "../domain/thumbprint";
import type { CertificateService } from "./certificate-service";
import type { ApplicationStore } from "./ports";
import { pushAudit, type PushDevices } from "./push-devices";
import type { DeviceSession, PushJobStore, PushSettings } from "./push-ports";

/** How pushes behave; defaults in DEFAULT_PUSH_POLICY. */
export interface PushPolicy {
  /** Ask devices for a new key pair at every certificate push (CreateSigningRequest RegeneratePrivateKey). */
  regeneratePrivateKey: boolean;
  retry: RetryPolicy;
  /** A claimed job's lease lasts the attempt's timeout plus this; after it, another instance may resume the job. */
  leaseMarginMs: number;
  /** How often a run looks for jobs that became due (retries). */
  pollIntervalMs: number;
  /** How often verification asks the endpoint for its certificate after ApplyChanges. */
  verifyPollMs: number;
}

export const DEFAULT_PUSH_POLICY: PushPolicy = {
  regeneratePrivateKey: true,
  retry: DEFAULT_RETRY_POLICY,
  leaseMarginMs: 30_000,
  pollIntervalMs: 250,
  verifyPollMs: 300,
};

/**
 * How often a run marks the jobs waiting for its workers as alive. A job runner's takeover time
 * (PushTaskOptions.takeoverAfterMs) must be well above it.
 */
export const KEEP_ALIVE_MS = 10_000;

/** Which applications a run pushes to. */
export interface PushSelection {
  applicationIds?: string[];
  /** Every server application. */
  all?: boolean;
  /** Only applications whose ApplicationUri matches this Like pattern (alone: every match). */
  uriPattern?: string;
}

/** Options of one run (`opcua-gds push`). */
export interface PushRunOptions {
  operation: PushOperation;
  selection: PushSelection;
  concurrency: number;
  /** Longest time of one attempt on one device. */
  timeoutMs: number;
  /** Attempts after the first one, with exponential back-off, for failures that waiting can cure. */
  retries: number;
  /** Pin the certificate an unknown device presents now (the operator has seen it out of band). */
  trustDeviceCertificate: boolean;
  /** Ask devices for a new key pair (default: the policy's regeneratePrivateKey, true). */
  regeneratePrivateKey?: boolean;
  /** Each finished device, as it finishes. */
  onOutcome?: (outcome: PushOutcome, done: number, total: number) => void;
  /** A failed attempt that will be retried. */
  onRetry?: (applicationUri: string, reason: string, delayMs: number) => void;
  /** The trust list changed during the run (a revocation): `count` devices get it again. */
  onRefresh?: (count: number) => void;
  /** Stops claiming; running attempts are abandoned at once and their jobs released for a later run. */
  signal?: AbortSignal;
}

/** What one attempt on one job needs of a run (a CLI run, or the scheduler's job runner). */
type AttemptOptions = Pick<PushRunOptions, "timeoutMs" | "trustDeviceCertificate" | "regeneratePrivateKey" | "signal" | "onRetry">;

/** How the scheduler runs the queue (runDueJobs). */
export interface DueJobOptions {
  concurrency: number;
  /** Longest time of one attempt on one device. */
  timeoutMs: number;
  /** A job someone else created (a CLI run) is taken over once it has been due this long: its own run would have claimed it by then. */
  takeoverAfterMs: number;
  /** Stops claiming; running attempts are abandoned and their jobs released. */
  signal?: AbortSignal;
}

/** How the scheduler renews push-managed devices (queueRenewals). */
export interface RenewalQueueOptions {
  /** Attempts after the first one, with the push back-off, for failures that waiting can cure. */
  retries: number;
  /**
   * Wait before a device whose renewal job failed gets a new one: grows with each failed job in a
   * row, so a device that refuses (wrong credentials, a rejected certificate) is not hammered.
   */
  failedJobBackoff: RetryPolicy;
}

/** A renewal job the scheduler queued, and why. */
export interface QueuedRenewal {
  applicationId: string;
  applicationUri: string;
  jobId: string;
  reason: RenewalReason;
  /** When the job may start (later than now when the device's maintenance window is closed). */
  notBeforeMs: number;
}

/** Options of `opcua-gds push ... --queue`: jobs handed to the running GDS's scheduler. */
export interface PushQueueOptions {
  operation: PushOperation;
  selection: PushSelection;
  /** Attempts after the first one, with exponential back-off, for failures that waiting can cure. */
  retries: number;
}

/** What `queue` did for one device: the job the scheduler will run, or why there is none. */
export interface QueuedPush {
  applicationId: string;
  applicationUri: string;
  jobId: string | null;
  /** Null when queued; otherwise why the device got no job. */
  skip: string | null;
}

/** One entry of a dry run: what a push would do to one device. */
export interface PushPlanEntry {
  applicationId: string;
  applicationUri: string;
  endpointUrl: string | null;
  credentials: string;
  deviceCertificate: string;
  activeJob: { jobId: string; state: string; step: PushStep; owner: string | null } | null;
  skip: string | null;
}

/** For tests: called after each step a job records; throwing PushInterrupted leaves the job as a crash would. */
export type StepHook = (job: PushJobRecord, step: PushStep) => void | Promise<void>;

/** Thrown by a StepHook (or a stop signal) to end an attempt as if the process had died there. */
export class PushInterrupted extends Error {
  constructor(message = "interrupted") {
    super(message);
    this.name = "PushInterrupted";
  }
}

interface Candidate {
  app: ApplicationRecord;
  endpointUrl: string | null;
  skip: string | null;
}

/** A job of the current run, as this process sees it. */
interface Pending {
  app: ApplicationRecord;
  endpointUrl: string;
  startedAtMs: number;
  /** When it may be claimed (again). */
  dueAtMs: number;
  /** A worker of this process runs an attempt of it now. */
  runningHere: boolean;
}

/** An attempt in progress: the sessions to close when it must stop, and why it stopped. */
interface AttemptContext {
  sessions: Set<DeviceSession>;
  /** Set when the attempt ran out of time or the operator stopped the run; `why` is in words. */
  stopped: { by: "timeout" | "operator"; why: string } | null;
}

const RSA_SHA256 = CERTIFICATE_TYPES.RsaSha256ApplicationCertificateType.nodeNumericId;

/**
 * Push certificate management (OPC 10000-12 §7.10): the GDS writes trust lists and certificates to
 * servers through their ServerConfiguration, one device or a fleet, as jobs in the database that a
 * crash or restart resumes from the step reached without issuing twice.
 */
export class PushService {
  constructor(
    private readonly applications: ApplicationStore,
    private readonly certificates: CertificateService,
    private readonly jobs: PushJobStore,
    /** Settings, first contact and sessions of the devices. */
    readonly devices: PushDevices,
    private readonly clock: Clock,
    private readonly options: {
      /** Names this process as the owner of the jobs it claims. */
      instanceId: string;
      policy?: PushPolicy;
      afterStep?: StepHook;
    },
  ) {}

  /** Names this process as the owner of the jobs it claims. */
  get instanceId(): string {
    return this.options.instanceId;
  }

  private get policy(): PushPolicy {
    return this.options.policy ?? DEFAULT_PUSH_POLICY;
  }

  /** When the lease of a job claimed at `nowMs` for an attempt of at most `timeoutMs` runs out. */
  private leaseEnd(nowMs: number, timeoutMs: number): number {
    return nowMs + timeoutMs + this.policy.leaseMarginMs;
  }

  // ---- planning ------------------------------------------------------------------------------

  private async candidates(selection: PushSelection): Promise<Candidate[]> {
    const pattern = selection.uriPattern ? compileLikePattern(selection.uriPattern) : null;
    let apps: ApplicationRecord[];
    let named = false;
    if (selection.applicationIds?.length) {
      if (selection.all) throw invalidArgument("name applications or give --all, not both");
      apps = [];
      for (const id of [...new Set(selection.applicationIds)]) apps.push(await this.devices.application(id));
      named = true;
    } else if (selection.all || pattern) {
      apps = (await this.applications.list()).filter((a) => a.applicationType !== ApplicationType.Client);
    } else {
      throw invalidArgument("name applications, or give --all or --filter PATTERN");
    }
    if (pattern) apps = apps.filter((a) => pattern.test(a.applicationUri));
    const out: Candidate[] = [];
    for (const app of apps) {
      const endpointUrl = this.devices.endpointOf(app, await this.devices.settingsRow(app.applicationId));
      let skip: string | null = null;
      if (named && app.applicationType === ApplicationType.Client) skip = "a client application has no server to push to";
      else if (!endpointUrl) skip = `no opc.tcp endpoint: set one with \`opcua-gds push endpoint ${formatApplicationId(app.applicationId)} URL\``;
      out.push({ app, endpointUrl, skip });
    }
    return out;
  }

  /** A dry run: what `run` would do, without connecting or changing anything. */
  async plan(selection: PushSelection): Promise<PushPlanEntry[]> {
    const entries: PushPlanEntry[] = [];
    for (const { app, endpointUrl, skip } of await this.candidates(selection)) {
      const s = await this.devices.settingsRow(app.applicationId);
      const [active] = await this.jobs.list({ applicationId: app.applicationId, states: ["queued", "running"], limit: 1 });
      const issued = (await this.certificates.listCertificates({ applicationId: app.applicationId })).some((r) => r.revokedAtMs === null && r.notAfterMs > this.clock.nowMs());
      entries.push({
        applicationId: app.applicationId,
        applicationUri: app.applicationUri,
        endpointUrl,
        credentials: this.devices.describeCredentials(s),
        deviceCertificate: s?.pinnedThumbprint
          ? `pinned ${s.pinnedThumbprint}`
          : issued
            ? "accepted if it is the GDS-issued one"
            : "unknown: run `app trust` first or push with --trust-device-certificate",
        activeJob: active ? { jobId: active.jobId, state: active.state, step: active.step, owner: active.owner } : null,
        skip,
      });
    }
    return entries;
  }

  /** Jobs, newest first (for `push jobs`). */
  async listJobs(filter: { applicationId?: string; activeOnly?: boolean; limit?: number }): Promise<PushJobRecord[]> {
    return this.jobs.list({ applicationId: filter.applicationId, states: filter.activeOnly ? ["queued", "running"] : undefined, limit: filter.limit ?? 200 });
  }

  // ---- running -------------------------------------------------------------------------------

  /**
   * Pushes to every selected device, `concurrency` at a time, and returns one outcome per device.
   * Each device gets a job row first (or its interrupted job is adopted and resumed); a device whose
   * job another instance is running right now is skipped. `refreshAfter` false: no second pass.
   */
  async run(actor: string, options: PushRunOptions, refreshAfter = true): Promise<PushOutcome[]> {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1 || options.concurrency > 256) throw invalidArgument("--concurrency must be from 1 to 256");
    if (!(options.timeoutMs >= 1000) || options.timeoutMs > 3_600_000) throw invalidArgument("--timeout must be from 1 to 3600 seconds");
    if (!Number.isInteger(options.retries) || options.retries < 0 || options.retries > 20) throw invalidArgument("--retries must be from 0 to 20");
    const candidates = await this.candidates(options.selection);
    const outcomes: PushOutcome[] = [];
    const total = candidates.length;
    const report = (o: PushOutcome) => {
      outcomes.push(o);
      options.onOutcome?.(o, outcomes.length, total);
    };
    const pending = new Map<string, Pending>();
    for (const { app, endpointUrl, skip } of candidates) {
      if (skip || !endpointUrl) {
        report(this.outcome(app, endpointUrl, "skipped", skip ?? "no endpoint", null, 0));
        continue;
      }
      const job = await this.enqueue(actor, app, options);
      if (typeof job === "string") report(this.outcome(app, endpointUrl, "skipped", job, null, 0));
      else pending.set(job.jobId, { app, endpointUrl, startedAtMs: this.clock.nowMs(), dueAtMs: job.nextAttemptAtMs, runningHere: false });
    }

    // Jobs waiting for a worker of this run stay this run's: a job runner takes over only jobs whose run stopped touching them.
    const keepAlive = setInterval(() => {
      const waiting = [...pending].filter(([, p]) => !p.runningHere).map(([id]) => id);
      this.jobs.keepAlive(waiting, this.clock.nowMs()).catch(() => undefined);
    }, KEEP_ALIVE_MS);
    try {
      const workers = Array.from({ length: Math.min(options.concurrency, Math.max(1, pending.size)) }, () => this.worker(actor, options, pending, report));
      await Promise.all(workers);
    } finally {
      clearInterval(keepAlive);
    }
    return refreshAfter && writesTrustList(options.operation) && !options.signal?.aborted ? this.refreshStaleTrustLists(actor, options, outcomes) : outcomes;
  }

  /**
   * Hands a rollout to the running GDS(s): creates a job per selected device (or adopts its
   * interrupted one) and returns at once. The acting instance's scheduler runs them like its own
   * jobs, from its next tick (see queuedJobCreator); `push jobs` shows their progress.
   */
  async queueRollout(actor: string, options: PushQueueOptions): Promise<QueuedPush[]> {
    if (!Number.isInteger(options.retries) || options.retries < 0 || options.retries > 20) throw invalidArgument("--retries must be from 0 to 20");
    const out: QueuedPush[] = [];
    for (const { app, endpointUrl, skip } of await this.candidates(options.selection)) {
      const entry = { applicationId: app.applicationId, applicationUri: app.applicationUri };
      if (skip || !endpointUrl) {
        out.push({ ...entry, jobId: null, skip: skip ?? "no endpoint" });
        continue;
      }
      const job = await this.enqueue(actor, app, { operation: options.operation, retries: options.retries, createdBy: queuedJobCreator(actor), why: "queued for the running GDS" });
      out.push(typeof job === "string" ? { ...entry, jobId: null, skip: job } : { ...entry, jobId: job.jobId, skip: null });
    }
    return out;
  }

  // ---- scheduled work (the lifecycle scheduler) -----------------------------------------------

  /**
   * Queues a push job ("all": the trust list first, so the device trusts the CA that signs its new
   * certificate, e.g. after a CA change, and gets fresh CRLs on the way) for every push-managed
   * device whose certificate needs replacing (renewalReason) and that has no active job. A device
   * whose last renewal job failed waits out a back-off first; one outside its maintenance window
   * gets a job that waits for the window.
   */
  async queueRenewals(actor: string, options: RenewalQueueOptions): Promise<QueuedRenewal[]> {
    const queued: QueuedRenewal[] = [];
    const type = DEFAULT_APPLICATION_GROUP.certificateTypes[0].name;
    const managed = await this.jobs.pushManagedApplications();
    for (const applicationId of await this.certificates.renewalCandidates(DEFAULT_APPLICATION_GROUP.name, type, managed)) {
      const app = await this.applications.get(applicationId);
      if (!app || app.applicationType === ApplicationType.Client) continue;
      const reason = await this.certificates.renewalReasonOf(applicationId, DEFAULT_APPLICATION_GROUP.name, type);
      if (!reason) continue;
      const recent = await this.jobs.list({ applicationId, limit: 20 });
      if (recent.some((j) => j.state === "queued" || j.state === "running")) continue;
      const now = this.clock.nowMs();
      const failedInRow = recent.findIndex((j) => j.state !== "failed");
      const failures = failedInRow < 0 ? recent.length : failedInRow;
      if (failures > 0 && (recent[0].finishedAtMs ?? 0) + retryDelayMs(failures, options.failedJobBackoff) > now) continue;
      const settings = await this.devices.settingsRow(applicationId);
      if (!this.devices.endpointOf(app, settings)) continue;
      const notBeforeMs = this.windowOpening(settings, now);
      const why = `renewal (${reason})${notBeforeMs > now ? `, waits for the maintenance window opening ${new Date(notBeforeMs).toISOString()}` : ""}`;
      const job = await this.enqueue(actor, app, { operation: "all", retries: options.retries, notBeforeMs, why });
      if (typeof job !== "string") queued.push({ applicationId, applicationUri: app.applicationUri, jobId: job.jobId, reason, notBeforeMs });
    }
    return queued;
  }

  /** When pushes to a device may start next: now when it has no maintenance window or the window is open. */
  private windowOpening(settings: PushSettings | null, nowMs: number): number {
    if (!settings?.maintenanceWindow) return nowMs;
    return nextWindowOpening(parseMaintenanceWindow(settings.maintenanceWindow, settings.maintenanceTimeZone ?? "UTC"), nowMs);
  }

  /**
   * Runs the queue: claims due jobs of any creator (its own at once, others' once abandoned, see
   * DueJobOptions) and runs one attempt each, `concurrency` at a time, through the same attempt as
   * a CLI run. A failed attempt that waiting can cure goes back to the queue with the job's
   * back-off, so a failing device never holds up the others. A job whose device is outside its
   * maintenance window is deferred to the window's opening. Returns the attempts' outcomes.
   */
  async runDueJobs(actor: string, options: DueJobOptions): Promise<PushOutcome[]> {
    const outcomes: PushOutcome[] = [];
    const here = new Set<string>();
    const attemptOptions: AttemptOptions = { timeoutMs: options.timeoutMs, trustDeviceCertificate: false, signal: options.signal };
    const worker = async () => {
      while (!options.signal?.aborted) {
        const now = this.clock.nowMs();
        const due = await this.jobs.due(now, actor, options.takeoverAfterMs, options.concurrency * 2 + here.size);
        let ran = false;
        for (const candidate of due) {
          if (here.has(candidate.jobId) || options.signal?.aborted) continue;
          here.add(candidate.jobId);
          try {
            const outcome = await this.runDueJob(actor, candidate, attemptOptions);
            if (outcome) {
              outcomes.push(outcome);
              ran = true;
              break;
            }
          } finally {
            here.delete(candidate.jobId);
          }
        }
        if (!ran) return;
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    return outcomes;
  }

  /** One due job: deferred, failed for want of its application, or claimed and attempted (null: not run). */
  private async runDueJob(actor: string, candidate: PushJobRecord, options: AttemptOptions): Promise<PushOutcome | null> {
    const now = this.clock.nowMs();
    const app = await this.applications.get(candidate.applicationId);
    if (!app) {
      await this.jobs.update(candidate.jobId, null, { state: "failed", owner: null, leaseExpiresAtMs: null, reason: "the application was unregistered", finishedAtMs: now }, now, {
        actor,
        action: "PushFailed",
        subject: formatApplicationId(candidate.applicationId),
        outcome: "BadNotFound",
        details: `job=${candidate.jobId}: the application was unregistered`,
      });
      return null;
    }
    const settings = await this.devices.settingsRow(app.applicationId);
    const endpointUrl = this.devices.endpointOf(app, settings);
    const opening = this.windowOpening(settings, now);
    if (opening > now) {
      const why = `waits for the maintenance window "${settings?.maintenanceWindow}" (${settings?.maintenanceTimeZone ?? "UTC"}), opening ${new Date(opening).toISOString()}`;
      await this.jobs.update(candidate.jobId, null, { nextAttemptAtMs: opening, reason: why }, now, pushAudit(actor, "PushDeferred", app, `job=${candidate.jobId}: ${why}`));
      return null;
    }
    const job = await this.jobs.claim([candidate.jobId], this.options.instanceId, now, this.leaseEnd(now, options.timeoutMs));
    if (!job) return null;
    const attempt = await this.runAttempt(actor, job, app, options);
    if ("retryAtMs" in attempt) return this.outcome(app, endpointUrl, "failed", `retry at ${new Date(attempt.retryAtMs).toISOString()}`, await this.jobs.get(job.jobId), this.clock.nowMs() - now);
    const final = attempt.final;
    return this.outcome(app, endpointUrl, final.state === "succeeded" ? "ok" : final.state === "failed" ? "failed" : "skipped", final.reason ?? "", final, this.clock.nowMs() - now);
  }

  /**
   * A rollout ends with every device it updated holding the GDS's current trust list: when the
   * trust list changed during the run (a certificate a device refused was revoked, or an operator
   * revoked one meanwhile, so the CRL is new), the devices that got the older one get the trust list
   * again. Their outcome says so, or why the refresh failed.
   */
  private async refreshStaleTrustLists(actor: string, options: PushRunOptions, outcomes: PushOutcome[]): Promise<PushOutcome[]> {
    const stale: PushOutcome[] = [];
    for (const o of outcomes) {
      if (o.result !== "ok" || !o.jobId) continue;
      const job = await this.jobs.get(o.jobId);
      const current = trustListDigest(await this.devices.trustListFor(await this.devices.settingsRow(o.applicationId)));
      if (job?.trustListDigest && job.trustListDigest !== current) stale.push(o);
    }
    if (stale.length === 0) return outcomes;
    options.onRefresh?.(stale.length);
    const refreshed = await this.run(actor, { ...options, operation: "trustlist", selection: { applicationIds: stale.map((o) => o.applicationId) }, trustDeviceCertificate: false, onOutcome: undefined }, false);
    const byId = new Map(refreshed.map((r) => [r.applicationId, r]));
    return outcomes.map((o) => {
      const r = byId.get(o.applicationId);
      if (!r) return o;
      if (r.result === "ok") return { ...o, reason: `${o.reason}; trust list sent again with the CRL that changed during the run`, durationMs: o.durationMs + r.durationMs };
      return { ...o, result: r.result, reason: `${o.reason}, but sending the trust list again with the CRL that changed during the run failed: ${r.reason}`, lastStatus: r.lastStatus };
    });
  }

  /**
   * Queues a push for the job runner without running it (trust-list distribution, drift repair);
   * when the device already has a queued or running job, returns that one untouched (created false).
   */
  async queue(actor: string, app: ApplicationRecord, operation: PushOperation, retries: number, why?: string): Promise<{ job: PushJobRecord; created: boolean }> {
    const fresh = this.newJob(actor, app, { operation, retries, why });
    return this.jobs.enqueue(fresh, this.queuedAudit(actor, app, fresh, why));
  }

  private queuedAudit(actor: string, app: ApplicationRecord, job: PushJobRecord, why: string | undefined) {
    return pushAudit(actor, "PushQueued", app, `job=${job.jobId} operation=${job.operation}${why ? `: ${why}` : ""}`);
  }

  private newJob(actor: string, app: ApplicationRecord, options: { operation: PushOperation; retries: number; notBeforeMs?: number; why?: string; createdBy?: string }): PushJobRecord {
    const now = this.clock.nowMs();
    return {
      jobId: randomUUID(),
      applicationId: app.applicationId,
      operation: options.operation,
      state: "queued",
      step: "none",
      attempts: 0,
      maxAttempts: options.retries + 1,
      lastStatus: null,
      reason: options.why ?? null,
      nextAttemptAtMs: Math.max(now, options.notBeforeMs ?? now),
      owner: null,
      leaseExpiresAtMs: null,
      requestId: null,
      issuedSerialHex: null,
      applyChangesRequired: false,
      trustListDigest: null,
      createdBy: options.createdBy ?? actor,
      createdAtMs: now,
      updatedAtMs: now,
      finishedAtMs: null,
    };
  }

  /** Creates the device's job, or adopts its interrupted one; a string says why the device is skipped. */
  private async enqueue(actor: string, app: ApplicationRecord, options: { operation: PushOperation; retries: number; notBeforeMs?: number; why?: string; createdBy?: string }): Promise<PushJobRecord | string> {
    const now = this.clock.nowMs();
    const fresh = this.newJob(actor, app, options);
    const { job, created } = await this.jobs.enqueue(fresh, this.queuedAudit(actor, app, fresh, options.why));
    if (created) return job;
    if (job.state === "running" && job.leaseExpiresAtMs !== null && job.leaseExpiresAtMs > now) {
      return `another push to this device is running (job ${job.jobId}, ${job.owner ?? "unknown owner"}, step ${job.step})`;
    }
    // An interrupted job: resume it from its step. Its operation changes only if it has not begun.
    const change: Partial<PushJobRecord> = { maxAttempts: job.attempts + options.retries + 1, nextAttemptAtMs: now };
    if (job.step === "none") change.operation = options.operation;
    // Handed to the running GDS: its scheduler resumes the job at once instead of after the takeover delay.
    if (options.createdBy) change.createdBy = options.createdBy;
    await this.jobs.update(job.jobId, null, change, now, pushAudit(actor, "PushResumed", app, `job=${job.jobId} step=${job.step} operation=${change.operation ?? job.operation}`));
    return { ...job, ...change };
  }

  /**
   * One of `concurrency` workers: claims a due job of this run, runs one attempt, repeats. It ends
   * when every job of the run is final or being run by another worker (which goes on with it).
   */
  private async worker(actor: string, options: PushRunOptions, pending: Map<string, Pending>, report: (o: PushOutcome) => void): Promise<void> {
    const finish = (jobId: string, p: Pending, result: PushOutcome["result"], reason: string, job: PushJobRecord | null) => {
      pending.delete(jobId);
      report(this.outcome(p.app, p.endpointUrl, result, reason, job, this.clock.nowMs() - p.startedAtMs));
    };
    for (;;) {
      const waiting = [...pending].filter(([, p]) => !p.runningHere);
      if (options.signal?.aborted) {
        for (const [jobId, p] of waiting) finish(jobId, p, "skipped", "stopped before it began; run the push again to do it", await this.jobs.get(jobId));
        return;
      }
      if (waiting.length === 0) return;
      const now = this.clock.nowMs();
      const due = waiting.filter(([, p]) => p.dueAtMs <= now);
      if (due.length === 0) {
        await sleep(Math.min(...waiting.map(([, p]) => p.dueAtMs)) - now, options.signal);
        continue;
      }
      const job = await this.jobs.claim(due.map(([id]) => id), this.options.instanceId, now, this.leaseEnd(now, options.timeoutMs));
      if (!job) {
        // Nothing due could be claimed: another worker here just took it, or another instance took
        // the device over (a second push of the same device): leave those devices to it.
        for (const [jobId, p] of due) {
          const stored = await this.jobs.get(jobId);
          const elsewhere = stored && stored.owner !== this.options.instanceId && (stored.state === "succeeded" || stored.state === "failed" || (stored.state === "running" && (stored.leaseExpiresAtMs ?? 0) > now));
          if (elsewhere && !p.runningHere && pending.has(jobId)) finish(jobId, p, "skipped", `another push took this device over (job ${jobId}, ${stored.owner ?? "finished"})`, stored);
        }
        await sleep(this.policy.pollIntervalMs, options.signal);
        continue;
      }
      const p = pending.get(job.jobId)!;
      p.runningHere = true;
      const attempt = await this.runAttempt(actor, job, p.app, options);
      p.runningHere = false;
      if ("retryAtMs" in attempt) {
        p.dueAtMs = attempt.retryAtMs;
        continue;
      }
      const final = attempt.final;
      finish(job.jobId, p, final.state === "succeeded" ? "ok" : final.state === "failed" ? "failed" : "skipped", final.reason ?? "", final);
    }
  }

  private outcome(app: ApplicationRecord, endpointUrl: string | null, result: PushOutcome["result"], reason: string, job: PushJobRecord | null, durationMs: number): PushOutcome {
    return {
      applicationId: app.applicationId,
      applicationUri: app.applicationUri,
      endpointUrl,
      result,
      reason,
      step: job?.step ?? "none",
      attempts: job?.attempts ?? 0,
      lastStatus: job?.lastStatus ?? null,
      jobId: job?.jobId ?? null,
      serialHex: job && replacesCertificate(job.operation) ? job.issuedSerialHex : null,
      durationMs,
    };
  }

  /**
   * One attempt on a claimed job, within the timeout. Returns the job when it is final for this run
   * (succeeded, failed, released by a stop, or interrupted), or when it is due again for a retry.
   */
  private async runAttempt(actor: string, claimed: PushJobRecord, app: ApplicationRecord, options: AttemptOptions): Promise<{ final: PushJobRecord } | { retryAtMs: number }> {
    const job = { ...claimed };
    const ctx: AttemptContext = { sessions: new Set(), stopped: null };
    const stop = (by: "timeout" | "operator", why: string) => {
      if (ctx.stopped) return;
      ctx.stopped = { by, why };
      for (const s of ctx.sessions) void s.close();
    };
    const timer = setTimeout(() => stop("timeout", `timed out after ${Math.round(options.timeoutMs / 1000)} s`), options.timeoutMs);
    const onAbort = () => stop("operator", "stopped by the operator");
    options.signal?.addEventListener("abort", onAbort);
    try {
      await this.attempt(actor, job, app, options, ctx);
      const done: Partial<PushJobRecord> = { state: "succeeded", step: "verified", owner: null, leaseExpiresAtMs: null, reason: this.successText(job), lastStatus: null, finishedAtMs: this.clock.nowMs() };
      await this.jobs.update(job.jobId, this.options.instanceId, done, this.clock.nowMs(), pushAudit(actor, "PushSucceeded", app, `job=${job.jobId} operation=${job.operation} ${done.reason}`));
      return { final: { ...job, ...done } };
    } catch (e) {
      if (e instanceof PushInterrupted && ctx.stopped === null) return { final: { ...job, state: "running", reason: `interrupted at step ${job.step}` } };
      if (ctx.stopped?.by === "operator") {
        const released: Partial<PushJobRecord> = { state: "queued", owner: null, leaseExpiresAtMs: null, reason: `stopped after step ${job.step} (the operator or a stopping GDS); the next push or scheduler run resumes it` };
        await this.jobs.update(job.jobId, this.options.instanceId, released, this.clock.nowMs());
        return { final: { ...job, ...released, state: "queued" } };
      }
      // A verification that ran out of time says what it saw; anything else cut short, where it was.
      const failure =
        ctx.stopped && !(e instanceof PushFailure && e.kind === "verification")
          ? new PushFailure("timeout", `${ctx.stopped.why} at step "${nextStepText(job)}"`)
          : ctx.stopped
            ? new PushFailure("verification", `${(e as PushFailure).message} (${ctx.stopped.why})`)
            : toFailure(e);
      const now = this.clock.nowMs();
      if (failure.retryable && job.attempts < job.maxAttempts) {
        const delayMs = retryDelayMs(job.attempts, this.policy.retry);
        await this.jobs.update(job.jobId, this.options.instanceId, { state: "queued", owner: null, leaseExpiresAtMs: null, reason: failure.message, lastStatus: failure.remoteStatus, nextAttemptAtMs: now + delayMs }, now);
        options.onRetry?.(app.applicationUri, failure.message, delayMs);
        return { retryAtMs: now + delayMs };
      }
      const failed: Partial<PushJobRecord> = { state: "failed", owner: null, leaseExpiresAtMs: null, reason: failure.message, lastStatus: failure.remoteStatus, finishedAtMs: now };
      await this.jobs.update(job.jobId, this.options.instanceId, failed, now, { ...pushAudit(actor, "PushFailed", app, `job=${job.jobId} operation=${job.operation} step=${job.step}: ${failure.message}`), outcome: failure.remoteStatus ?? "Bad" });
      return { final: { ...job, ...failed } };
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      for (const s of ctx.sessions) await s.close();
    }
  }

  private successText(job: PushJobRecord): string {
    const parts: string[] = [];
    if (writesTrustList(job.operation)) parts.push("trust list written and read back");
    if (replacesCertificate(job.operation)) parts.push(`certificate ${job.issuedSerialHex} in use`);
    return parts.join("; ");
  }

  /** Records that `job` completed `step` (and more), unless it was stopped or lost meanwhile. */
  private async record(job: PushJobRecord, ctx: AttemptContext, change: Partial<PushJobRecord>): Promise<void> {
    if (ctx.stopped) throw new PushFailure("timeout", ctx.stopped.why);
    Object.assign(job, change);
    const held = await this.jobs.update(job.jobId, this.options.instanceId, change, this.clock.nowMs());
    if (!held) throw new PushFailure("gds", "another instance took this job over (its lease had expired)");
    if (change.step) await this.options.afterStep?.(job, change.step);
  }

  /**
   * One attempt, in one session: the device keeps changes in a transaction of that session until
   * ApplyChanges and drops them when the session closes (OPC 10000-12 §7.10.2). So until changes
   * are applied, a resumed job writes the trust list and sends UpdateCertificate again (both are
   * idempotent); only the issuance is never repeated: the job remembers the certificate.
   */
  private async attempt(actor: string, job: PushJobRecord, app: ApplicationRecord, options: AttemptOptions, ctx: AttemptContext): Promise<void> {
    const current = await this.applications.get(app.applicationId);
    if (!current) throw new PushFailure("gds", "the application was unregistered");
    const settings = await this.devices.settingsRow(app.applicationId);
    if (!hasReached(job.step, "changes-applied")) {
      const device = await this.devices.open(actor, current, settings, options.timeoutMs, options.trustDeviceCertificate);
      ctx.sessions.add(device);
      let staged = false;
      let applied = false;
      try {
        if (ctx.stopped) throw new PushFailure("timeout", ctx.stopped.why);
        const capabilities = await device.capabilities();
        let applyChangesRequired = false;
        if (writesTrustList(job.operation)) {
          const content = await this.devices.trustListFor(settings);
          const written = await device.writeTrustList(content);
          staged = true;
          applyChangesRequired ||= written.applyChangesRequired;
          await this.record(job, ctx, { step: later(job.step, "trust-list-written"), trustListDigest: trustListDigest(content) });
        }
        if (replacesCertificate(job.operation)) {
          const typeId = certificateTypeFor(capabilities.certificateTypeIds);
          if (!hasReached(job.step, "certificate-issued")) await this.issue(actor, job, current, device, capabilities.supportedPrivateKeyFormats, typeId, options.regeneratePrivateKey ?? this.policy.regeneratePrivateKey, ctx);
          // The generated key (if any) stays sealed in its request until the device applied the certificate.
          const delivery = await this.certificates.pushDelivery(job.requestId!);
          let updated;
          try {
            updated = await device.updateCertificate(typeId, delivery.certificate, delivery.issuerCertificates, delivery.privateKeyFormat ?? "", delivery.privateKey);
          } catch (e) {
            // A certificate the device refused must not count as its current one.
            if (e instanceof PushFailure && e.kind === "rejected" && job.issuedSerialHex) await this.certificates.revokeSerials(`push (${actor})`, [job.issuedSerialHex], `push: the device refused it (${e.remoteStatus ?? "Bad"})`);
            throw e;
          }
          staged = true;
          applyChangesRequired ||= updated.applyChangesRequired;
          await this.record(job, ctx, { step: later(job.step, "certificate-updated") });
        }
        if (applyChangesRequired) await device.applyChanges();
        applied = true;
        if (replacesCertificate(job.operation)) await this.certificates.confirmPushDelivery(actor, job.requestId!);
        await this.record(job, ctx, { step: "changes-applied", applyChangesRequired });
      } finally {
        ctx.sessions.delete(device);
        // Closing the session cancels a transaction on the device too; CancelChanges says so first.
        if (staged && !applied) await device.cancelChanges();
        await device.close();
      }
    }
    await this.verify(actor, job, current, options, ctx);
    if (replacesCertificate(job.operation)) await this.devices.unpin(actor, current, settings, job.issuedSerialHex);
  }

  /** CreateSigningRequest (or a GDS-made key) and issuance; the request id is saved before anything is signed. */
  private async issue(actor: string, job: PushJobRecord, app: ApplicationRecord, device: DeviceSession, formats: string[], typeId: number, regenerate: boolean, ctx: AttemptContext): Promise<void> {
    // Saved first: a job resumed after a crash during issuance finds the certificate issued for it.
    if (!job.requestId) await this.record(job, ctx, { requestId: randomUUID() });
    // A crash between signing and recording this step: the certificate exists for the request. A
    // new CreateSigningRequest would replace the key the device holds for it, so deliver that one.
    let row = await this.certificates.issuedForRequest(job.requestId!);
    if (row) return this.record(job, ctx, { step: later(job.step, "certificate-issued"), issuedSerialHex: row.serialHex });
    // A crash after the request was stored but before it was signed: its CSR names a key the device
    // no longer holds as pending once it makes a new one, so that request is dropped for a new one.
    const stale = await this.certificates.getRequest(job.requestId!).catch((e: unknown) => {
      if (isGdsError(e, "NotFound")) return null;
      throw e;
    });
    if (stale) {
      if (stale.state === "New") await this.certificates.rejectRequest(`push (${actor})`, stale.requestId, `superseded: job ${job.jobId} resumed after an interruption and asks the device for a new request`);
      await this.record(job, ctx, { requestId: randomUUID() });
    }
    const key = await this.keySource(device, formats, typeId, regenerate);
    try {
      row = await this.certificates.issueForPush(actor, app.applicationId, job.requestId!, key);
    } catch (e) {
      if (isGdsError(e)) throw new PushFailure("gds", `the GDS refused the device's certificate request: ${e.message}`);
      throw e;
    }
    await this.record(job, ctx, { step: later(job.step, "certificate-issued"), issuedSerialHex: row.serialHex });
  }

  /** CSR from the device, or a key pair from the GDS when the device cannot make one. */
  private async keySource(device: DeviceSession, formats: string[], typeId: number, regenerate: boolean): Promise<{ csrDer: Buffer } | { privateKeyFormat: "PFX" | "PEM" }> {
    try {
      return { csrDer: await device.createSigningRequest(typeId, regenerate, randomBytes(32)) };
    } catch (e) {
      if (!(e instanceof PushFailure && e.remoteStatus === "BadNotSupported")) throw e;
      const format = (["PEM", "PFX"] as const).find((f) => formats.map((x) => x.toUpperCase()).includes(f));
      if (!format) throw new PushFailure("unsupported", `the device cannot make a key pair (CreateSigningRequest: BadNotSupported) and takes no private key format the GDS can generate (SupportedPrivateKeyFormats: ${formats.join(", ") || "none"})`, "BadNotSupported");
      return { privateKeyFormat: format };
    }
  }

  /**
   * A Good status alone has proven wrong on real servers: a new connection must see the issued
   * certificate on the endpoint (after ApplyChanges a device restarts its endpoints, so this polls),
   * a session must open with it (the device holds its key), and the trust list must read back as
   * written.
   */
  private async verify(actor: string, job: PushJobRecord, app: ApplicationRecord, options: AttemptOptions, ctx: AttemptContext): Promise<void> {
    if (hasReached(job.step, "verified")) return;
    const settings = await this.devices.settingsRow(app.applicationId);
    let accept: ((der: Buffer) => Promise<void>) | undefined;
    if (replacesCertificate(job.operation)) {
      const issued = (await this.certificates.listCertificates({ applicationId: app.applicationId })).find((r) => r.serialHex === job.issuedSerialHex);
      if (!issued) throw new PushFailure("gds", `the issued certificate ${job.issuedSerialHex} is missing from the database`);
      accept = async (der) => {
        const seen = thumbprintOf(der);
        if (seen !== issued.thumbprint) throw new PushFailure("verification", `the device still presents certificate ${seen}, not the one issued (${issued.thumbprint}): it did not take the new certificate into use`);
      };
    }
    let device: DeviceSession;
    for (;;) {
      try {
        device = await this.devices.open(actor, app, settings, options.timeoutMs, false, accept);
        break;
      } catch (e) {
        // After ApplyChanges a device restarts its endpoints: for a moment it refuses connections or still shows the old certificate.
        if (!(e instanceof PushFailure && ["verification", "unreachable", "timeout", "busy"].includes(e.kind)) || ctx.stopped) throw e;
        await sleep(this.policy.verifyPollMs);
      }
    }
    ctx.sessions.add(device);
    try {
      if (writesTrustList(job.operation)) {
        const readBack = trustListDigest(await device.readTrustList());
        if (readBack !== job.trustListDigest) throw new PushFailure("verification", "the trust list the device reads back differs from the one written (the device changed or ignored it)");
      }
    } finally {
      ctx.sessions.delete(device);
      await device.close();
    }
    await this.record(job, ctx, { step: "verified" });
  }
}

/** The later of two steps (a resumed job redoes device steps but never moves back). */
function later(a: PushStep, b: PushStep): PushStep {
  return hasReached(a, b) ? a : b;
}

/** What a job was doing when it stopped, for messages. */
function nextStepText(job: PushJobRecord): string {
  const order: Array<[PushStep, string, boolean]> = [
    ["trust-list-written", "write trust list", writesTrustList(job.operation)],
    ["certificate-issued", "CreateSigningRequest and signing", replacesCertificate(job.operation)],
    ["certificate-updated", "UpdateCertificate", replacesCertificate(job.operation)],
    ["changes-applied", "ApplyChanges", true],
    ["verified", "verify", true],
  ];
  return order.find(([step, , applies]) => applies && !hasReached(job.step, step))?.[1] ?? "finish";
}

/** The certificate type to ask for: RsaSha256, the one the GDS issues, when the device lists it or says nothing. */
function certificateTypeFor(deviceTypes: number[]): number {
  if (deviceTypes.length === 0 || deviceTypes.includes(RSA_SHA256)) return RSA_SHA256;
  throw new PushFailure("unsupported", `the device's DefaultApplicationGroup takes certificate types ${deviceTypes.map((t) => `i=${t}`).join(", ")}, none of which the GDS issues (RsaSha256ApplicationCertificateType, i=${RSA_SHA256})`);
}

/** Any error of an attempt as a PushFailure with a message a plant engineer can act on. */
function toFailure(e: unknown): PushFailure {
  if (e instanceof PushFailure) return e;
  if (isGdsError(e)) return new PushFailure("gds", e.message);
  return new PushFailure("gds", `unexpected failure: ${(e as Error)?.message ?? String(e)}`);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
