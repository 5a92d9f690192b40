/**
 * What the GDS last pushed to each server (pushed_state), on both databases: written by the job
 * store in the transaction that marks a job succeeded, drift results with their audit record, and
 * the migration that fills the table from the push jobs that succeeded before it existed.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { PushJobRecord } from "../../src/domain/push";
import { AuditRepository } from "../../src/store/audit-repository";
import { openDatabase, type Database } from "../../src/store/database";
import { IssuedCertificateEntity } from "../../src/store/entities/issued-certificate-entity";
import { PushJobRepository } from "../../src/store/push-job-repository";
import { PushedStateRepository } from "../../src/store/pushed-state-repository";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../helpers/databases";
import { tempDir } from "../helpers/gds-fixture";
import { pushJob } from "../helpers/push-jobs";

const clock = { nowMs: () => Date.now() };
const queuedAudit = { actor: "test", action: "PushQueued", subject: "device", outcome: "Good" };

const job = pushJob;

for (const backend of BACKENDS) {
  describe(`pushed state of push-managed servers (${backend})`, () => {
    let dir: string;
    let database: TestDatabase;
    let db: Database;
    let jobs: PushJobRepository;
    let pushed: PushedStateRepository;

    /** A job that ran to success, as the push service records it. */
    const succeed = async (j: PushJobRecord, atMs: number) => {
      await jobs.enqueue(j, queuedAudit);
      assert.ok(await jobs.update(j.jobId, null, { state: "succeeded", step: "verified", finishedAtMs: atMs }, atMs));
    };
    const issued = async (applicationId: string, serialHex: string, thumbprint: string) => {
      const now = Date.now();
      await db.dataSource.manager.insert(IssuedCertificateEntity, {
        serialHex, thumbprint, applicationId, applicationUri: `urn:test:${applicationId}`, groupName: "DefaultApplicationGroup", certificateTypeName: "RsaSha256ApplicationCertificateType",
        issuerSerialHex: "01", requestId: null, notBeforeMs: now, notAfterMs: now + 86_400_000, renewalAtMs: now + 43_200_000, revokedAtMs: null, revocationReason: null, der: "AA==",
      });
    };

    before(async () => {
      dir = await tempDir("pushed-state");
      database = await createTestDatabase(backend);
      db = await openDatabase({ url: database.url, sqlitePath: path.join(dir, "gds.sqlite") });
      jobs = new PushJobRepository(db, clock);
      pushed = new PushedStateRepository(db, clock);
    });
    after(async () => {
      await db.close();
      await database.drop();
      await fs.rm(dir, { recursive: true, force: true });
    });

    it("a job that succeeds records the trust list and certificate it delivered; failed or unfinished jobs record nothing", async () => {
      const app = randomUUID();
      await issued(app, "0a1b", "f".repeat(40));
      await succeed(job(app, { operation: "all", trustListDigest: "d".repeat(64), issuedSerialHex: "0a1b" }), 1000);
      let state = await pushed.get(app);
      assert.deepEqual({ ...state, drift: null }, { applicationId: app, trustListDigest: "d".repeat(64), trustListWrittenAtMs: 1000, certificateSerialHex: "0a1b", certificateThumbprint: "f".repeat(40), certificateWrittenAtMs: 1000, drift: null });
      // A later trust-list push changes the trust list only; the certificate stays.
      await succeed(job(app, { operation: "trustlist", trustListDigest: "e".repeat(64) }), 2000);
      state = await pushed.get(app);
      assert.equal(state?.trustListDigest, "e".repeat(64));
      assert.equal(state?.trustListWrittenAtMs, 2000);
      assert.equal(state?.certificateSerialHex, "0a1b");
      const failing = job(randomUUID(), { operation: "trustlist", trustListDigest: "c".repeat(64) });
      await jobs.enqueue(failing, queuedAudit);
      await jobs.update(failing.jobId, null, { state: "failed", finishedAtMs: 3000 }, 3000);
      assert.equal(await pushed.get(failing.applicationId), null, "a device never pushed to successfully is not push-managed");
    });

    it("a drift result is stored with its audit record, in one transaction", async () => {
      const app = randomUUID();
      await succeed(job(app, { operation: "trustlist", trustListDigest: "a".repeat(64) }), 1000);
      const observation = { state: "drifted" as const, checkedAtMs: 5000, detail: "the trust list reads back as b…", observedTrustListDigest: "b".repeat(64), presentedThumbprint: "1".repeat(40) };
      await pushed.recordDrift(app, observation, { actor: "scheduler", action: "DriftDetected", subject: app, outcome: "Bad", details: observation.detail });
      assert.deepEqual((await pushed.get(app))?.drift, observation);
      assert.ok((await pushed.list()).some((s) => s.applicationId === app));
      const audit = (await new AuditRepository(db, clock).since(0, 10_000)).filter((r) => r.action === "DriftDetected" && r.subject === app);
      assert.equal(audit.length, 1);
    });

    it("the migration fills the table from the push jobs that succeeded before it existed", async () => {
      const app = randomUUID();
      await issued(app, "0c0d", "e".repeat(40));
      await succeed(job(app, { operation: "all", trustListDigest: "1".repeat(64), issuedSerialHex: "0c0d" }), 1000);
      await succeed(job(app, { operation: "trustlist", trustListDigest: "2".repeat(64) }), 2000);
      await db.dataSource.undoLastMigration({ transaction: "each" });
      assert.equal(await db.dataSource.createQueryRunner().hasTable("pushed_state"), false);
      await db.dataSource.runMigrations({ transaction: "each" });
      const state = await pushed.get(app);
      assert.deepEqual({ ...state, drift: null }, { applicationId: app, trustListDigest: "2".repeat(64), trustListWrittenAtMs: 2000, certificateSerialHex: "0c0d", certificateThumbprint: "e".repeat(40), certificateWrittenAtMs: 1000, drift: null });
    });
  });
}
