/**
 * Crash consistency (issue 7 item 3). Issuance (a sample; bench/crash-bench.ts runs the full
 * count): the built `opcua-gds start` is killed with SIGKILL at random moments while clients issue
 * certificates and an administrator revokes some, and restarted each time. Afterwards every
 * certificate a client received has its row, its request and its audit record, no serial appears
 * twice, the published CRL numbers never went back, and the database passes its integrity check.
 * A push rollout queued for the running GDS (`push all --all --queue`): SIGKILL at a random moment,
 * restart, and the jobs resume and finish with every device updated exactly once.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseApplicationId } from "../../src/domain/application-id";
import { PUSH_STEPS } from "../../src/domain/push";
import { killChildren, killIfRunning, setCliWorkDir, startServer, withDirectory, type RunningServer } from "../helpers/cli";
import { inspector, runCrashScenario, type Inspector } from "../helpers/crash-scenario";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../helpers/databases";
import { ADMIN_PASSWORD, tempDir } from "../helpers/gds-fixture";
import { commission, issuedPerApplication, midRollout, queueRollout, rolloutFinished, rolloutProblems, stepsDone, storedJobs, type RegisteredDevice } from "../helpers/queued-rollout";
import { freePorts, simulatedDeviceRecord, startSimulator, type Simulator } from "../helpers/simulator";

const ROLLOUT_DEVICES = 8;
const DEVICE_PASSWORD = "crash-rollout-device-password";
const ROLLOUT_ENV = {
  OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD,
  OPCUA_GDS_SCHEDULER_INTERVAL: "1s",
  OPCUA_GDS_PUSH_USER: "admin",
  OPCUA_GDS_PUSH_PASSWORD: DEVICE_PASSWORD,
  // A job running on a killed instance is resumed once its lease (this plus 10 s) has run out.
  OPCUA_GDS_PUSH_TIMEOUT: "20s",
};

after(() => killChildren());

for (const backend of BACKENDS) {
  describe(`crash consistency of issuance (${backend}, built CLI)`, () => {
    it("SIGKILL at random moments during 200 concurrent issuances and revocations loses nothing a client received, repeats no serial, never lowers a CRL number", async () => {
      const report = await runCrashScenario({ backend, total: 200, workers: 6, kills: 3, log: (l) => process.stderr.write(`${l}\n`) });
      const { problems, ...figures } = report;
      process.stderr.write(`${JSON.stringify(figures)}\n`);
      assert.deepEqual(problems, []);
      assert.equal(report.received, 200);
      assert.ok(report.revocationsAnswered > 0, "no revocation was answered: the CRL part proved nothing");
      assert.ok(report.crlNumbers.length > 1, "no CRL was published during the run");
    });
  });
}

// The rollout is killed on SQLite only: on PostgreSQL, two-instances.test.ts kills the instance
// running a 20-device rollout and checks the same (resumed jobs, one certificate per device), and the
// issuance runs above check PostgreSQL's integrity after SIGKILL. Each run costs over a minute.
for (const backend of ["sqlite"] as const) {
  describe(`crash consistency of a queued push rollout (${backend}, built CLI)`, { timeout: 1_200_000 }, () => {
    let root: string;
    let database: TestDatabase;
    let simulator: Simulator;
    let server: RunningServer | undefined;
    let db: Inspector | undefined;
    let args: string[];
    let target: string[];
    const devices: RegisteredDevice[] = [];

    before(async () => {
      root = await tempDir(`crash-rollout-${backend}`);
      setCliWorkDir(root);
      database = await createTestDatabase(backend);
      const dataDir = path.join(root, "data");
      target = ["--data", dataDir, ...(database.url ? ["--db", database.url] : [])];
      args = [...target, "--port", String(await freePorts(1)), "--host", "127.0.0.1"];
      [server, simulator] = await Promise.all([startServer(args, { env: ROLLOUT_ENV }), startSimulator({ count: ROLLOUT_DEVICES, dataDir: path.join(root, "devices"), password: DEVICE_PASSWORD })]);
      const pki = await tempDir("crash-rollout-client");
      try {
        await withDirectory(server.endpointUrl, dataDir, pki, { userName: "admin", password: ADMIN_PASSWORD }, async (d) => {
          for (const device of simulator.devices) devices.push({ device, applicationId: parseApplicationId(await d.registerApplication(await simulatedDeviceRecord(device))) });
        });
      } finally {
        await fs.rm(pki, { recursive: true, force: true });
      }
    });

    after(async () => {
      await db?.close();
      await simulator?.stop();
      await killIfRunning(server);
      killChildren();
      await database?.drop();
      await fs.rm(root, { recursive: true, force: true });
    });

    it("SIGKILL at a random moment of the rollout, restart: the jobs resume and finish, no device gets two certificates, every certificate has its row and audit record, the database passes its integrity check", async () => {
      await commission(target, devices, ROLLOUT_ENV);
      db = await inspector(backend, target[1], database.url);
      const issuedBefore = await issuedPerApplication(db);
      const jobIds = await queueRollout(target, ROLLOUT_ENV, ROLLOUT_DEVICES);
      // A random moment: once the jobs have completed from none to 60 % of their steps in all.
      const threshold = Math.floor(Math.random() * (ROLLOUT_DEVICES * (PUSH_STEPS.length - 1) * 0.6));
      await midRollout(db, jobIds, (jobs) => stepsDone(jobs) >= threshold);
      server!.child.kill("SIGKILL");
      await server!.closed;
      const atKill = await storedJobs(db, jobIds);
      process.stderr.write(`[${backend}] killed after ${stepsDone(atKill)} steps (chosen: ${threshold}); jobs then: ${atKill.map((j) => `${j.state}/${j.step}`).sort().join(" ")}\n`);
      assert.ok(atKill.some((j) => j.state !== "succeeded"), "some jobs were unfinished at the kill");
      server = await startServer(args, { env: ROLLOUT_ENV });
      const finished = await rolloutFinished(db, jobIds);
      assert.deepEqual(finished.filter((j) => j.state !== "succeeded").map((j) => `${j.id} ${j.state} ${j.step}: ${j.last_status ?? ""} ${j.reason ?? ""}`), []);
      assert.deepEqual(await rolloutProblems(db, { jobIds, devices, issuedBefore }), []);
    });
  });
}
