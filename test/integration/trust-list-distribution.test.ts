/**
 * Trust-list distribution and drift detection (OPC 10000-12 §7.10) against simulated devices in a
 * child process (`opcua-gds simulate`) and a GDS in this process whose lifecycle scheduler runs (a
 * tick a second), over SignAndEncrypt: a revocation reaches the trust list of every push-managed
 * device of the group with no operator action (read back from each device and its CRL decoded),
 * `status` and the metrics count N of M until M of M, and a trust list changed behind the GDS's back
 * is reported as drift and, by policy, put back.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { DEFAULT_APPLICATION_GROUP } from "../../src/domain/certificate-groups";
import { formatApplicationId } from "../../src/domain/application-id";
import { trustListDigest } from "../../src/domain/push";
import type { GdsServices } from "../../src/app";
import { CaStateEntity } from "../../src/store/entities/ca-state-entity";
import type { Backend } from "../helpers/databases";
import { cli, killChildren, setCliWorkDir } from "../helpers/cli";
import { selfSignedApplicationCertificate, x509 } from "../helpers/certificates";
import { startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { readDeviceTrustList, registerSimulatedDevice, startSimulator, type Simulator } from "../helpers/simulator";

const DEVICES = 4;
/** The device whose certificate is revoked: the GDS trusts it no longer, so it leaves the distribution. */
const REVOKED = 3;
/** The device whose trust list is changed behind the GDS's back. */
const TAMPERED = 1;
const DEVICE_USER = "admin";
const DEVICE_PASSWORD = "sim-device-password";
const PUSH_ENV = { OPCUA_GDS_PUSH_USER: DEVICE_USER, OPCUA_GDS_PUSH_PASSWORD: DEVICE_PASSWORD };
/** The scheduler ticks every second and distributes every 4 s (so it leaves a device alone for 16 s after an operator pushed to it); drift checks are run by the test. */
const SCHEDULER_ENV = { ...PUSH_ENV, OPCUA_GDS_SCHEDULER_INTERVAL: "1s", OPCUA_GDS_DISTRIBUTION_INTERVAL: "4s", OPCUA_GDS_DRIFT_INTERVAL: "off" };

/** Serial numbers compare as lower-case hex without leading zeros. */
const serialKey = (hex: string) => hex.toLowerCase().replace(/^0+/, "");

/** Polls `probe` until it returns true, for at most `timeoutMs` (the machine may be loaded). */
async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

// One backend: PostgreSQL here; the pushed-state store runs on both in pushed-state-store.test.ts, and the lifecycle scheduler on SQLite in lifecycle.test.ts.
for (const backend of ["postgres"] as Backend[]) {
  describe(`trust-list distribution and drift detection (${backend})`, { timeout: 900_000 }, () => {
    let root: string;
    let gds: TestGds;
    let services: GdsServices;
    let simulator: Simulator & { basePort: number };
    const ids: string[] = [];
    let revokedSerial: string;

    const gdsCli = (args: string[]) => cli([...args, "--data", gds.dataDir, ...(gds.database.url ? ["--db", gds.database.url] : [])], { env: { USER: "operator", ...PUSH_ENV }, timeoutMs: 300_000 });
    const readBack = (index: number) => readDeviceTrustList(simulator.devices[index].endpointUrl, gds.dataDir, { userName: DEVICE_USER, password: DEVICE_PASSWORD }, path.join(root, "reader-pki"));
    const groupStatus = async () => (await services.fleet.status()).trustLists.find((g) => g.group === DEFAULT_APPLICATION_GROUP.name)!;
    const metric = async (name: string) => {
      const body = await (await fetch(gds.gds.metricsUrl!)).text();
      const line = body.split("\n").find((l) => l.startsWith(`${name}{group="${DEFAULT_APPLICATION_GROUP.name}"}`));
      assert.ok(line, `${name} is exposed:\n${body.split("\n").filter((l) => l.includes("trustlist")).join("\n")}`);
      return Number(line.split(" ").pop());
    };

    before(async () => {
      root = await tempDir("distribution");
      setCliWorkDir(root);
      [gds, simulator] = await Promise.all([
        startTestGds(backend, undefined, { metrics: true, env: SCHEDULER_ENV }),
        startSimulator({ count: DEVICES, dataDir: path.join(root, "devices"), password: DEVICE_PASSWORD }),
      ]);
      services = gds.gds.services;
      for (const device of simulator.devices) ids[device.index] = await registerSimulatedDevice(services.directory, device);
      // Commissioning: the operator has checked the devices' thumbprints and pushes to all of them.
      const outcomes = await services.push.run("test", { operation: "all", selection: { applicationIds: ids }, concurrency: 4, timeoutMs: 120_000, retries: 2, trustDeviceCertificate: true });
      assert.deepEqual(outcomes.map((o) => `${o.applicationUri}: ${o.result} ${o.reason}`).filter((t) => !/: ok /.test(t)), []);
      revokedSerial = outcomes.find((o) => o.applicationId === ids[REVOKED])!.serialHex!;
    });

    after(async () => {
      await simulator?.stop();
      await gds?.stop();
      killChildren();
      await fs.rm(root, { recursive: true, force: true });
    });

    it("after commissioning every device is push-managed and holds the current trust list: nothing to distribute", async () => {
      assert.deepEqual(await groupStatus(), { group: DEFAULT_APPLICATION_GROUP.name, servers: DEVICES, current: DEVICES, excluded: 0, drift: { inSync: 0, drifted: 0, unreachable: 0, unchecked: DEVICES } });
      const run = await services.distribution.distribute("scheduler", Date.now());
      assert.deepEqual(run.map((e) => e.action), Array(DEVICES).fill("current"));
      assert.equal((await services.push.listJobs({ activeOnly: true })).length, 0);
    });

    it("a revocation reaches the trust list of every push-managed device of the group by itself; status goes from 0 of M to M of M", async () => {
      const revokedAt = Date.now();
      await services.certificates.revokeSerials("test", [revokedSerial], "key compromised");
      const served = DEVICES - 1;
      // Right after the revocation no device has the new CRL: a push takes seconds, the status milliseconds.
      const pending = await groupStatus();
      assert.equal(pending.servers, served, "the device whose certificate was revoked is no longer served");
      assert.equal(pending.excluded, 1);
      assert.equal(pending.current, 0, "the new CRL is on no device yet");
      assert.equal(await metric("opcuagds_trustlist_servers"), served);
      // The commissioning run pushed moments ago: distribution gives such a run time to finish its own refresh first.
      const held = await services.distribution.distribute("scheduler", Date.now());
      assert.ok(held.filter((e) => e.applicationId !== ids[REVOKED]).every((e) => e.action === "waiting" && /test pushed to it/.test(e.detail)), JSON.stringify(held));

      await waitFor(`the trust list is current on ${served} of ${served}`, async () => (await groupStatus()).current === served, 480_000);
      const expected = trustListDigest(await services.push.devices.trustListFor(null));
      for (let i = 0; i < served; i++) {
        const list = await readBack(i);
        assert.equal(trustListDigest(list), expected, `device ${i} holds the GDS's current trust list`);
        const revoked = list.trustedCrls.flatMap((der) => new x509.X509Crl(new Uint8Array(der)).entries.map((e) => serialKey(e.serialNumber)));
        assert.ok(revoked.includes(serialKey(revokedSerial)), `device ${i}'s CRL lists the revoked serial ${revokedSerial}`);
      }
      // One trust-list job per served device, by the scheduler, although distribution ran every second meanwhile.
      const jobs = (await services.push.listJobs({})).filter((j) => j.operation === "trustlist" && j.createdAtMs >= revokedAt);
      const seen = async () => JSON.stringify({ jobs: jobs.map((j) => [ids.indexOf(j.applicationId), j.createdBy, j.state, j.reason, j.createdAtMs - revokedAt]), distribution: await services.distribution.distribute("scheduler", Date.now()) });
      assert.ok(jobs.every((j) => j.createdBy === "scheduler" && j.state === "succeeded"), await seen());
      assert.deepEqual(jobs.map((j) => j.applicationId).sort(), ids.slice(0, served).sort());
      const entries = await services.distribution.distribute("scheduler", Date.now());
      assert.equal(entries.find((e) => e.applicationId === ids[REVOKED])?.action, "excluded");
      assert.match(entries.find((e) => e.applicationId === ids[REVOKED])!.detail, /was revoked/);

      assert.equal(await metric("opcuagds_trustlist_current_servers"), served);
      const shown = await gdsCli(["status"]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, new RegExp(`trust list ${DEFAULT_APPLICATION_GROUP.name}  current on ${served} of ${served} push-managed servers; 1 left out`));
      const json = await gdsCli(["status", "--json"]);
      assert.equal(json.code, 0, json.stderr);
      const group = (JSON.parse(json.stdout) as { trustLists: Array<{ group: string; servers: number; current: number }> }).trustLists.find((g) => g.group === DEFAULT_APPLICATION_GROUP.name);
      assert.deepEqual({ servers: group?.servers, current: group?.current }, { servers: served, current: served });
    });

    it("a re-signed CRL (no revocation, the CRL aged) is distributed too", async () => {
      // The CRL nears its nextUpdate (as after two weeks): the periodic refresh re-signs it.
      await services.db.dataSource.manager.update(CaStateEntity, { groupName: DEFAULT_APPLICATION_GROUP.name }, { crlNextUpdateMs: Date.now() + 86_400_000 });
      assert.ok((await services.certificates.refreshCrls("test")) >= 1, "the aged CRL was re-signed");
      const served = DEVICES - 1;
      assert.equal((await groupStatus()).current, 0);
      await waitFor(`the re-signed CRL is on ${served} of ${served}`, async () => (await groupStatus()).current === served);
      const crl = (await services.certificates.currentCrl())!.crlDer;
      for (let i = 0; i < served; i++) assert.ok((await readBack(i)).trustedCrls.some((c) => c.equals(crl)), `device ${i} has the re-signed CRL`);
    });

    it("a trust list changed behind the GDS's back is reported as drift (audit, status, push drift) and repaired by a push", async () => {
      const app = await services.directory.getApplication(ids[TAMPERED]);
      // Someone trusts a certificate of their own on the device through its ServerConfiguration, bypassing the GDS.
      const rogue = await selfSignedApplicationCertificate("urn:elsewhere:rogue", root, "rogue");
      const rogueDer = Buffer.from(new x509.X509Certificate(await fs.readFile(rogue.certificateFile, "utf8")).rawData);
      const settings = await services.push.devices.settingsRow(ids[TAMPERED]);
      const tampered = await services.push.devices.trustListFor(settings);
      tampered.trustedCertificates.push(rogueDer);
      const device = await services.push.devices.open("someone", app, settings, 60_000, false);
      try {
        const written = await device.writeTrustList(tampered);
        if (written.applyChangesRequired) await device.applyChanges();
      } finally {
        await device.close();
      }
      assert.ok((await readBack(TAMPERED)).trustedCertificates.some((c) => c.equals(rogueDer)), "the device took the change");

      const reports = await services.drift.check("scheduler", { repair: false });
      const byId = new Map(reports.map((r) => [r.applicationId, r]));
      assert.equal(byId.get(ids[TAMPERED])?.state, "drifted");
      assert.deepEqual(byId.get(ids[TAMPERED])?.findings.map((f) => f.what), ["trust-list"]);
      assert.equal(byId.get(ids[REVOKED])?.state, "excluded");
      for (const i of [0, 2]) assert.equal(byId.get(ids[i])?.state, "in-sync", `device ${i} is in sync`);
      const status = await groupStatus();
      assert.deepEqual(status.drift, { inSync: DEVICES - 2, drifted: 1, unreachable: 0, unchecked: 0 });
      // Reported, not repaired: distribution leaves the device alone (the GDS did deliver the current list).
      await new Promise((r) => setTimeout(r, 3000));
      assert.deepEqual(await services.push.listJobs({ applicationId: ids[TAMPERED], activeOnly: true }), []);
      assert.ok((await readBack(TAMPERED)).trustedCertificates.some((c) => c.equals(rogueDer)));
      const audit = (await services.audit.since(0, 10_000)).filter((r) => r.action === "DriftDetected");
      assert.equal(audit.length, 1);
      assert.ok(audit[0].subject.includes(formatApplicationId(ids[TAMPERED])));

      const cliReport = await gdsCli(["push", "drift", "--json"]);
      assert.equal(cliReport.code, 1, `drift makes push drift exit 1: ${cliReport.stderr}`);
      const printed = JSON.parse(cliReport.stdout) as Array<{ applicationId: string; state: string; detail: string | null }>;
      assert.equal(printed.find((r) => r.applicationId === formatApplicationId(ids[TAMPERED]))?.state, "drifted");
      assert.match(printed.find((r) => r.applicationId === formatApplicationId(ids[TAMPERED]))!.detail!, /trust list reads back as/);
      const text = await gdsCli(["push", "drift", formatApplicationId(ids[0])]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^in sync\s+urn:opcua-gds:simulated:device:0/m);

      // Policy repair (the default): the check queues a trust-list job; the scheduler's job runner puts the list back.
      const repaired = (await services.drift.check("scheduler")).find((r) => r.applicationId === ids[TAMPERED]);
      assert.ok(repaired?.repair && "jobId" in repaired.repair, "a repair job was queued");
      assert.equal(repaired.repair.operation, "trustlist");
      const jobId = repaired.repair.jobId;
      await waitFor("the repair job finished", async () => ["succeeded", "failed"].includes((await services.push.listJobs({ applicationId: ids[TAMPERED] })).find((j) => j.jobId === jobId)?.state ?? ""));
      assert.equal((await services.push.listJobs({ applicationId: ids[TAMPERED] })).find((j) => j.jobId === jobId)?.state, "succeeded");
      const restored = await readBack(TAMPERED);
      assert.ok(!restored.trustedCertificates.some((c) => c.equals(rogueDer)), "the rogue certificate is gone");
      assert.equal(trustListDigest(restored), trustListDigest(await services.push.devices.trustListFor(settings)));
      const after = await services.drift.check("scheduler");
      assert.ok(after.filter((r) => r.state !== "excluded").every((r) => r.state === "in-sync"), JSON.stringify(after));
      const final = await groupStatus();
      assert.equal(final.current, DEVICES - 1);
      assert.deepEqual(final.drift, { inSync: DEVICES - 1, drifted: 0, unreachable: 0, unchecked: 0 });
      assert.ok((await services.audit.since(0, 10_000)).some((r) => r.action === "DriftCleared" && r.subject.includes(formatApplicationId(ids[TAMPERED]))));

      // A device with a push under way is not judged (nor repaired): the push changes it and verifies it itself.
      const { job: underWay } = await services.push.queue("test", await services.directory.getApplication(ids[0]), "trustlist", 0);
      const [during] = await services.drift.check("scheduler", { applicationIds: [ids[0]] });
      assert.equal(during.state, "excluded");
      assert.match(during.detail ?? "", new RegExp(`a push to it is under way \\(job ${underWay.jobId}`));
      await waitFor("the push under way finished", async () => (await services.push.listJobs({ applicationId: ids[0], activeOnly: true })).length === 0);
    });
  });
}
