import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { queuedJobCreator } from "../../src/domain/push";
import { openDatabase, type Database } from "../../src/store/database";
import { PushJobRepository } from "../../src/store/push-job-repository";
import { PushSettingsRepository } from "../../src/store/push-settings-repository";
import { AuditRepository } from "../../src/store/audit-repository";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../helpers/databases";
import { tempDir } from "../helpers/gds-fixture";
import { pushJob } from "../helpers/push-jobs";

const clock = { nowMs: () => Date.now() };
const audit = { actor: "test", action: "PushQueued", subject: "device", outcome: "Good" };

const job = pushJob;

for (const backend of BACKENDS) {
  describe(`push job queue (${backend})`, () => {
    let dir: string;
    let database: TestDatabase;
    let db: Database;
    let jobs: PushJobRepository;

    before(async () => {
      dir = await tempDir("push-jobs");
      database = await createTestDatabase(backend);
      db = await openDatabase({ url: database.url, sqlitePath: path.join(dir, "gds.sqlite") });
      jobs = new PushJobRepository(db, clock);
    });
    after(async () => {
      await db.close();
      await database.drop();
      await fs.rm(dir, { recursive: true, force: true });
    });

    it("a device has one active job: a second enqueue returns the first; a finished job makes room", async () => {
      const app = randomUUID();
      const first = await jobs.enqueue(job(app), audit);
      assert.equal(first.created, true);
      const second = await jobs.enqueue(job(app, { operation: "cert" }), audit);
      assert.equal(second.created, false);
      assert.equal(second.job.jobId, first.job.jobId);
      assert.equal(second.job.operation, "all");
      assert.ok(await jobs.update(first.job.jobId, null, { state: "succeeded", finishedAtMs: Date.now() }, Date.now()));
      const third = await jobs.enqueue(job(app), audit);
      assert.equal(third.created, true);
      assert.notEqual(third.job.jobId, first.job.jobId);
      const audited = (await new AuditRepository(db, clock).since(0, 1000)).filter((r) => r.action === "PushQueued");
      assert.equal(audited.length, 2, "only the jobs created are audited as queued");
    });

    it("a claimed job is leased: nobody else takes it until the lease expires, then the next attempt counts", async () => {
      const { job: j } = await jobs.enqueue(job(randomUUID()), audit);
      const now = Date.now();
      const a = await jobs.claim([j.jobId], "instance-a", now, now + 60_000);
      assert.equal(a?.state, "running");
      assert.equal(a?.owner, "instance-a");
      assert.equal(a?.attempts, 1);
      assert.equal(await jobs.claim([j.jobId], "instance-b", now + 1000, now + 61_000), null);
      // Instance a died: after its lease, b resumes the job from the step a recorded.
      assert.ok(await jobs.update(j.jobId, "instance-a", { step: "certificate-issued", issuedSerialHex: "abcd" }, now));
      const b = await jobs.claim([j.jobId], "instance-b", now + 61_000, now + 120_000);
      assert.equal(b?.owner, "instance-b");
      assert.equal(b?.attempts, 2);
      assert.equal(b?.step, "certificate-issued");
      assert.equal(b?.issuedSerialHex, "abcd");
      // a, back from the dead, may no longer write to the job.
      assert.equal(await jobs.update(j.jobId, "instance-a", { step: "verified" }, now + 62_000), false);
      assert.equal((await jobs.get(j.jobId))?.step, "certificate-issued");
    });

    it("a job waiting for its retry time is not claimed before it", async () => {
      const now = Date.now();
      const { job: j } = await jobs.enqueue(job(randomUUID(), { nextAttemptAtMs: now + 5000 }), audit);
      assert.equal(await jobs.claim([j.jobId], "x", now, now + 1000), null);
      assert.equal((await jobs.claim([j.jobId], "x", now + 5000, now + 6000))?.jobId, j.jobId);
    });

    it("claimers racing for 20 jobs take each job exactly once", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await jobs.enqueue(job(randomUUID()), audit)).job.jobId);
      const taken: string[] = [];
      const claimer = async (owner: string) => {
        for (;;) {
          const now = Date.now();
          const j = await jobs.claim(ids, owner, now, now + 60_000);
          if (!j) return;
          taken.push(j.jobId);
        }
      };
      await Promise.all(["a", "b", "c", "d", "e", "f"].map(claimer));
      assert.equal(taken.length, 20);
      assert.equal(new Set(taken).size, 20);
    });

    it("the scheduler's look for due jobs: its own at once, another run's only once abandoned (not kept alive, or lease expired, a while ago)", async () => {
      const now = Date.now() + 10 * 3_600_000;
      const grace = 60_000;
      const own = (await jobs.enqueue(job(randomUUID(), { createdBy: "scheduler", nextAttemptAtMs: now - 1000 }), audit)).job;
      const cliFresh = (await jobs.enqueue(job(randomUUID(), { createdBy: "cli:operator", nextAttemptAtMs: now - 1000, updatedAtMs: now - 1000 }), audit)).job;
      const cliAbandoned = (await jobs.enqueue(job(randomUUID(), { createdBy: "cli:operator", nextAttemptAtMs: now - grace - 1, updatedAtMs: now - grace - 1 }), audit)).job;
      // A living run works through many devices: its waiting job has long been due, but the run keeps it alive.
      const cliWaiting = (await jobs.enqueue(job(randomUUID(), { createdBy: "cli:operator", nextAttemptAtMs: now - 10 * grace, updatedAtMs: now - 10 * grace }), audit)).job;
      await jobs.keepAlive([cliWaiting.jobId], now - 5000);
      const later = (await jobs.enqueue(job(randomUUID(), { createdBy: "scheduler", nextAttemptAtMs: now + 1000 }), audit)).job;
      const crashed = (await jobs.enqueue(job(randomUUID(), { createdBy: "cli:operator" }), audit)).job;
      await jobs.update(crashed.jobId, null, { state: "running", owner: "dead-instance", leaseExpiresAtMs: now - grace - 5 }, now);
      const leased = (await jobs.enqueue(job(randomUUID(), { createdBy: "cli:operator" }), audit)).job;
      await jobs.update(leased.jobId, null, { state: "running", owner: "live-instance", leaseExpiresAtMs: now - 10 }, now);
      const queued = (await jobs.enqueue(job(randomUUID(), { createdBy: queuedJobCreator("cli:operator"), nextAttemptAtMs: now - 1000 }), audit)).job;
      const queuedCrashed = (await jobs.enqueue(job(randomUUID(), { createdBy: queuedJobCreator("cli:operator") }), audit)).job;
      await jobs.update(queuedCrashed.jobId, null, { state: "running", owner: "dead-instance", leaseExpiresAtMs: now - 10 }, now);
      const lookalike = (await jobs.enqueue(job(randomUUID(), { createdBy: "queue_cli:operator", nextAttemptAtMs: now - 1000, updatedAtMs: now - 1000 }), audit)).job;
      const due = (await jobs.due(now, "scheduler", grace, 1000)).map((j) => j.jobId);
      assert.ok(due.includes(own.jobId) && due.includes(cliAbandoned.jobId) && due.includes(crashed.jobId));
      assert.ok(due.includes(queued.jobId) && due.includes(queuedCrashed.jobId), "jobs handed to the running GDS (push --queue) are taken at once, like its own");
      assert.ok(!due.includes(lookalike.jobId), "only the exact queue: prefix hands a job over");
      assert.ok(!due.includes(cliFresh.jobId), "a CLI run still polling its own job keeps it");
      assert.ok(!due.includes(cliWaiting.jobId), "a job its living run keeps alive stays with it, however long it has been due");
      assert.ok(!due.includes(later.jobId), "not before its attempt time");
      assert.ok(!due.includes(leased.jobId), "a lease that ran out moments ago may still be met by its owner");
      assert.ok(due.indexOf(cliAbandoned.jobId) < due.indexOf(own.jobId), "earliest due first");
    });

    it("push-managed applications: a certificate was pushed (cert or all succeeded), automatic renewal not switched off", async () => {
      const settings = new PushSettingsRepository(db, clock);
      const [pushed, trustOnly, failed, off] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      for (const [app, operation, state] of [[pushed, "all", "succeeded"], [trustOnly, "trustlist", "succeeded"], [failed, "cert", "failed"], [off, "cert", "succeeded"]] as const) {
        await jobs.enqueue(job(app, { operation, state, finishedAtMs: Date.now() }), audit);
      }
      await settings.change(pushed, { maintenanceWindow: "Sat 00:00-24:00" }, Date.now(), audit);
      await settings.change(off, { autoRenew: false }, Date.now(), audit);
      const managed = await jobs.pushManagedApplications();
      assert.ok(managed.includes(pushed), "settings without an auto-renew choice count as on");
      for (const other of [trustOnly, failed, off]) assert.ok(!managed.includes(other), other);
      assert.equal((await settings.get(off))?.autoRenew, false);
      assert.equal((await settings.get(pushed))?.autoRenew, true);
    });
  });
}
