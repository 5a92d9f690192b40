import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { openDatabase, type Database } from "../../src/store/database";
import { PushJobRepository } from "../../src/store/push-job-repository";
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
  });
}
