/**
 * A push rollout handed to running GDS instances (`opcua-gds push all --all --queue`) on simulated
 * devices, and the checks that it updated every device exactly once: shared by the two-instance
 * test (test/e2e/two-instances.test.ts) and the crash test of a single instance
 * (test/e2e/crash-consistency.test.ts). The database is read directly (Inspector), on either backend.
 */
import assert from "node:assert/strict";
import { formatApplicationId } from "../../src/domain/application-id";
import { PUSH_STEPS, parsePushStep } from "../../src/domain/push";
import { thumbprintOf } from "../../src/domain/thumbprint";
import { cli, cliJson } from "./cli";
import type { Inspector } from "./crash-scenario";
import { presentedCertificate, type SimDevice } from "./simulator";
import { waitFor } from "./wait";

/** A push job as the database holds it. */
export interface StoredJob {
  id: string;
  application_id: string;
  state: string;
  step: string;
  attempts: number;
  owner: string | null;
  issued_serial: string | null;
  reason: string | null;
  last_status: string | null;
  created_by: string;
  created_at: number;
}

/** A simulated device and its registration. */
export interface RegisteredDevice {
  device: SimDevice;
  /** ApplicationId as the database stores it (a GUID). */
  applicationId: string;
}

function quoted(values: string[]): string {
  for (const v of values) assert.match(v, /^[0-9a-f-]{36}$/i, "only ids go into SQL text");
  return values.map((v) => `'${v}'`).join(", ");
}

/** The jobs `ids` as stored. */
export async function storedJobs(db: Inspector, ids: string[]): Promise<StoredJob[]> {
  const rows = await db.all<StoredJob>(`SELECT id, application_id, state, step, attempts, owner, issued_serial, reason, last_status, created_by, created_at FROM push_jobs WHERE id IN (${quoted(ids)})`);
  return rows.map((r) => ({ ...r, attempts: Number(r.attempts), created_at: Number(r.created_at) }));
}

/** Issued certificates per application (revoked ones too). */
export async function issuedPerApplication(db: Inspector): Promise<Map<string, number>> {
  const rows = await db.all<{ application_id: string; n: string | number }>("SELECT application_id, COUNT(*) AS n FROM issued_certificates GROUP BY application_id");
  return new Map(rows.map((r) => [r.application_id, Number(r.n)]));
}

/**
 * The operator's first push to each device, in the CLI process (not queued): the devices present
 * self-signed certificates, pinned here (--trust-device-certificate); afterwards they present
 * GDS-issued ones and the scheduler may push to them. All devices at once, so that no job waits
 * long enough for a scheduler to take it over.
 */
export async function commission(target: string[], devices: RegisteredDevice[], env: Record<string, string>): Promise<void> {
  const ids = devices.map((d) => formatApplicationId(d.applicationId));
  const r = await cli(["push", "all", ...ids, "--trust-device-certificate", "--concurrency", String(ids.length), "--timeout", "180", "--retries", "3", "--json", ...target], { env, timeoutMs: 600_000 });
  assert.equal(r.code, 0, `the first push to every device succeeds\nstdout: ${r.stdout.slice(0, 4000)}\nstderr: ${r.stderr.slice(-3000)}`);
}

/** `push all --all --queue --json`: the job ids, one per device, none skipped. */
export async function queueRollout(target: string[], env: Record<string, string>, devices: number): Promise<string[]> {
  const queued = await cliJson<{ operation: string; jobs: Array<{ applicationUri: string; jobId: string | null; skip: string | null }> }>(["push", "all", "--all", "--queue", "--retries", "4", "--json", ...target], { env });
  assert.equal(queued.operation, "all");
  assert.deepEqual(queued.jobs.filter((j) => j.skip !== null), [], "no device skipped");
  const ids = queued.jobs.map((j) => j.jobId!);
  assert.equal(new Set(ids).size, devices, "one job per device");
  return ids;
}

/** The pid in a job owner (`host/pid/random`, see app.ts). */
export function ownerPid(owner: string): number {
  return Number(owner.split("/").at(-2));
}

/** How far a rollout has come: the steps its jobs completed, summed (PUSH_STEPS index of each). */
export function stepsDone(jobs: StoredJob[]): number {
  return jobs.reduce((sum, j) => sum + PUSH_STEPS.indexOf(parsePushStep(j.step)), 0);
}

/**
 * Waits until `ready` holds for the rollout's jobs while some of them still run, and returns the
 * running jobs' owners: the moment to kill their instance. Fails when the rollout finished first
 * (the kill would prove nothing).
 */
export async function midRollout(db: Inspector, jobIds: string[], ready: (jobs: StoredJob[]) => boolean, timeoutMs = 300_000): Promise<{ succeeded: number; running: number; owners: string[] }> {
  return waitFor(
    "the chosen moment of the rollout",
    async () => {
      const jobs = await storedJobs(db, jobIds);
      const succeeded = jobs.filter((j) => j.state === "succeeded").length;
      assert.ok(succeeded < jobIds.length, "the rollout finished before the kill: nothing would be proven");
      const running = jobs.filter((j) => j.state === "running" && j.owner);
      const owners = [...new Set(running.map((j) => j.owner!))];
      return ready(jobs) && owners.length > 0 ? { succeeded, running: running.length, owners } : null;
    },
    timeoutMs,
    50,
  );
}

/** Waits for every job of the rollout to be final (succeeded or failed). */
export async function rolloutFinished(db: Inspector, jobIds: string[], timeoutMs = 420_000): Promise<StoredJob[]> {
  return waitFor(
    "every job of the rollout to finish",
    async () => {
      const jobs = await storedJobs(db, jobIds);
      return jobs.every((j) => j.state === "succeeded" || j.state === "failed") ? jobs : null;
    },
    timeoutMs,
    500,
  );
}

/**
 * Problems found after a rollout (empty when it updated every device exactly once): each job
 * succeeded once, each device got exactly one certificate more than before and presents it, no
 * other job was created for the devices meanwhile, every certificate row has one audit record and a
 * serial of its own, no application record is doubled, and the database passes its integrity check.
 */
export async function rolloutProblems(db: Inspector, o: { jobIds: string[]; devices: RegisteredDevice[]; issuedBefore: Map<string, number> }): Promise<string[]> {
  const problems: string[] = [];
  const jobs = await storedJobs(db, o.jobIds);
  if (jobs.length !== o.devices.length) problems.push(`${jobs.length} jobs stored for ${o.devices.length} devices`);
  for (const j of jobs) if (j.state !== "succeeded") problems.push(`job ${j.id} is ${j.state} at step ${j.step}: ${j.last_status ?? ""} ${j.reason ?? ""}`);
  const since = Math.min(...jobs.map((j) => j.created_at));
  const later = await db.all<{ id: string; application_id: string; operation: string; created_by: string; state: string; step: string; reason: string | null }>(
    `SELECT id, application_id, operation, created_by, state, step, reason FROM push_jobs WHERE created_at >= ${since} ORDER BY created_at`,
  );
  for (const id of new Set(later.map((j) => j.application_id))) {
    const ofApp = later.filter((j) => j.application_id === id);
    if (ofApp.length !== 1) problems.push(`application ${id} has ${ofApp.length} push jobs since the rollout was queued: ${ofApp.map((j) => `${j.operation} by ${j.created_by}, ${j.state} at ${j.step} (${j.reason ?? ""})`).join("; ")}`);
  }

  const audit = await db.all<{ action: string; details: string | null }>("SELECT action, details FROM audit_records WHERE action IN ('PushSucceeded', 'CertificateIssued')");
  const succeededAudit = new Map<string, number>();
  const issuedAudit = new Map<string, number>();
  for (const a of audit) {
    const key = a.action === "PushSucceeded" ? /job=([0-9a-f-]{36})/.exec(a.details ?? "")?.[1] : /serial=([0-9a-f]+)/.exec(a.details ?? "")?.[1];
    const map = a.action === "PushSucceeded" ? succeededAudit : issuedAudit;
    map.set(key ?? "?", (map.get(key ?? "?") ?? 0) + 1);
  }
  for (const j of jobs) if (succeededAudit.get(j.id) !== 1) problems.push(`job ${j.id} has ${succeededAudit.get(j.id) ?? 0} PushSucceeded records`);

  const issuedAfter = await issuedPerApplication(db);
  const certs = await db.all<{ serial: string; thumbprint: string; application_id: string }>("SELECT serial, thumbprint, application_id FROM issued_certificates");
  const bySerial = new Map(certs.map((c) => [c.serial, c]));
  for (const { device, applicationId } of o.devices) {
    const before = o.issuedBefore.get(applicationId) ?? 0;
    const after = issuedAfter.get(applicationId) ?? 0;
    if (after !== before + 1) problems.push(`device ${device.index} has ${after} issued certificates, ${before} before the rollout`);
    const job = jobs.find((j) => j.application_id === applicationId);
    const row = job?.issued_serial ? bySerial.get(job.issued_serial) : undefined;
    if (!row || row.application_id !== applicationId) {
      problems.push(`device ${device.index}: the job's certificate ${job?.issued_serial ?? "(none)"} has no row of its application`);
      continue;
    }
    const presented = thumbprintOf(await presentedCertificate(device.endpointUrl));
    if (presented !== row.thumbprint) problems.push(`device ${device.index} presents ${presented}, not the certificate ${row.serial} the rollout issued to it`);
  }

  if (new Set(certs.map((c) => c.serial)).size !== certs.length) problems.push("a serial appears twice in issued_certificates");
  for (const c of certs) if (issuedAudit.get(c.serial) !== 1) problems.push(`certificate ${c.serial} has ${issuedAudit.get(c.serial) ?? 0} CertificateIssued records`);
  for (const serial of issuedAudit.keys()) if (!bySerial.has(serial)) problems.push(`CertificateIssued record of ${serial} without its row`);

  const apps = await db.all<{ id: string; application_uri: string; record_id: string | number }>("SELECT id, application_uri, record_id FROM applications");
  if (new Set(apps.map((a) => a.application_uri)).size !== apps.length) problems.push("an ApplicationUri is registered twice");
  if (new Set(apps.map((a) => a.id)).size !== apps.length) problems.push("an ApplicationId appears twice");
  if (new Set(apps.map((a) => String(a.record_id))).size !== apps.length) problems.push("a record id appears twice");

  const integrity = await db.integrity();
  if (!/integrity_check: ok; foreign_key_check: 0 problems|: 0 problems$/.test(integrity)) problems.push(`integrity check: ${integrity}`);
  return problems;
}
