/**
 * Lifecycle automation (issue 5): the scheduler of a running GDS renews push-managed devices before
 * their certificates expire, with no operator action; a failing device backs off while the others
 * proceed; a device outside its maintenance window waits for it; pull clients see UpdateRequired at
 * their renewal time and after the key policy changed (OPC 10000-12 §7.9.10); on PostgreSQL two
 * instances renew every due device exactly once.
 *
 * Certificates live 150 s and are renewed at 35 % of their lifetime (OPCUA_GDS_RENEWAL): about 37 s
 * after issuance, which leaves about 100 s before expiry, room for a maintenance window that opens
 * at the next full minute after the renewal time. Devices are simulated (`opcua-gds simulate`) and
 * checked on their endpoints: the certificate they present is the new GDS-issued one.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CertificateClient } from "../../src/client/directory-client";
import { retryDelayMs, type PushJobRecord } from "../../src/domain/push";
import { thumbprintOf } from "../../src/domain/thumbprint";
import type { GdsServices } from "../../src/app";
import type { IssuedCertificateRow } from "../../src/services/ports";
import type { Backend } from "../helpers/databases";
import { killChildren, setCliWorkDir } from "../helpers/cli";
import { makeCsr, testKeyPair } from "../helpers/certificates";
import { ADMIN_PASSWORD, startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../helpers/opcua-client";
import { clientRecord } from "../helpers/records";
import { presentedCertificate, registerSimulatedDevice, startSimulator, type Simulator } from "../helpers/simulator";
import { waitFor } from "../helpers/wait";

const DEVICE_USER = "admin";
const DEVICE_PASSWORD = "sim-device-password";
const LIFETIME_S = 150;
const ENV = {
  OPCUA_GDS_CERT_LIFETIME: `${LIFETIME_S}s`,
  OPCUA_GDS_RENEWAL: "DefaultApplicationGroup=35%",
  OPCUA_GDS_SCHEDULER_INTERVAL: "1s",
  OPCUA_GDS_PUSH_USER: DEVICE_USER,
  OPCUA_GDS_PUSH_PASSWORD: DEVICE_PASSWORD,
};
const RENEWS = 0;
const FAILS = 1;
const WINDOWED = 2;
const DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/** The current certificate the GDS issued to an application (newest, unrevoked). */
async function currentCertificate(services: GdsServices, applicationId: string): Promise<IssuedCertificateRow> {
  const rows = (await services.certificates.listCertificates({ applicationId })).filter((r) => r.revokedAtMs === null);
  const newest = rows.sort((a, b) => b.notBeforeMs - a.notBeforeMs)[0];
  assert.ok(newest, "the application has a certificate");
  return newest;
}

async function schedulerJobs(services: GdsServices, applicationId: string): Promise<PushJobRecord[]> {
  return (await services.push.listJobs({ applicationId })).filter((j) => j.createdBy === "scheduler");
}

/** A window of 30 minutes that opens at the first full minute at least 5 s after `afterMs` (UTC). */
function windowOpeningAfter(afterMs: number): { spec: string; opensAtMs: number } {
  const opensAtMs = Math.ceil((afterMs + 5000) / 60_000) * 60_000;
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  return { spec: `${DAY_NAMES[new Date(opensAtMs).getUTCDay()]} ${hhmm(opensAtMs)}-${hhmm(opensAtMs + 30 * 60_000)}`, opensAtMs };
}

/** Starts `count` simulated devices, registers them and pushes each its first certificate, as an operator would. */
async function commissionDevices(gds: TestGds, root: string, count: number): Promise<{ simulator: Simulator & { basePort: number }; ids: string[] }> {
  const simulator = await startSimulator({ count, dataDir: path.join(root, "devices"), password: DEVICE_PASSWORD });
  const services = gds.gds.services;
  const ids: string[] = [];
  for (const device of simulator.devices) ids[device.index] = await registerSimulatedDevice(services.directory, device);
  const outcomes = await services.push.run("operator", { operation: "all", selection: { applicationIds: ids }, concurrency: count, timeoutMs: 90_000, retries: 2, trustDeviceCertificate: true });
  assert.deepEqual(
    outcomes.map((o) => [o.result, o.reason]).filter(([r]) => r !== "ok"),
    [],
    "every device takes its first certificate",
  );
  return { simulator, ids };
}

// One backend for a single instance: SQLite here; PostgreSQL runs the scheduler with two instances below.
for (const backend of ["sqlite"] as Backend[]) {
  describe(`lifecycle scheduler (${backend})`, { timeout: 900_000 }, () => {
    let root: string;
    let gds: TestGds;
    let simulator: Simulator & { basePort: number };
    let services: GdsServices;
    let ids: string[];
    const first: IssuedCertificateRow[] = [];
    let window: { spec: string; opensAtMs: number };

    /** Waits, until its first certificate would expire, for device `index` to present another one. */
    const newCertificateOn = (index: number) =>
      waitFor(
        `device ${index} to present a new certificate`,
        async () => {
          const der = await presentedCertificate(simulator.devices[index].endpointUrl);
          return thumbprintOf(der) !== first[index].thumbprint ? der : null;
        },
        first[index].notAfterMs - Date.now(),
        1000,
      );

    before(async () => {
      root = await tempDir("lifecycle");
      setCliWorkDir(root);
      gds = await startTestGds(backend, undefined, { env: ENV });
      services = gds.gds.services;
      ({ simulator, ids } = await commissionDevices(gds, root, 3));
      for (const id of ids) first.push(await currentCertificate(services, id));
      // The failing device moves out of reach: nothing listens on the port after the simulator's.
      await services.push.devices.setEndpoint("test", ids[FAILS], `opc.tcp://127.0.0.1:${simulator.basePort + 3}`);
      window = windowOpeningAfter(first[WINDOWED].renewalAtMs);
      assert.ok(window.opensAtMs < first[WINDOWED].notAfterMs - 25_000, "the window opens well before the certificate expires");
      await services.push.devices.setMaintenanceWindow("test", ids[WINDOWED], window.spec, null);
    });

    after(async () => {
      await simulator?.stop();
      await gds?.stop();
      await disposeClientStores();
      killChildren();
      await fs.rm(root, { recursive: true, force: true });
    });

    it("the renewal time lies within the policy: 35 % of the issued lifetime, less a jitter of at most 2 %", () => {
      for (const c of first) {
        const lifetime = c.notAfterMs - c.notBeforeMs;
        assert.equal(lifetime, LIFETIME_S * 1100, "150 s from issuance, back-dated a tenth of that");
        const planned = c.notBeforeMs + lifetime * 0.35;
        assert.ok(c.renewalAtMs <= Math.round(planned) && c.renewalAtMs >= planned - lifetime * 0.02 - 1, `renewal ${c.renewalAtMs - c.notBeforeMs} ms after notBefore`);
      }
    });

    // First: its wait for the renewal time runs while the devices' renewals come due.
    it("pull: GetCertificateStatus answers UpdateRequired at the renewal time, and at once for an instance whose key policy grew", async () => {
      const admin = { user: { userName: "admin", password: ADMIN_PASSWORD } };
      const keys = await testKeyPair();
      const { appId, applicationId } = await withDirectory(gds, admin, async (d) => {
        const appId = await d.registerApplication(clientRecord("lifecycle"));
        const c = new CertificateClient(d);
        await c.finishRequest(appId, await c.startSigningRequest(appId, await makeCsr(keys.keys, { uri: "urn:plant1:scadalifecycle" })));
        assert.equal(await c.getCertificateStatus(appId), false, "a fresh certificate needs no update");
        return { appId, applicationId: appId.split("g=")[1].toLowerCase() };
      });
      const issued = await currentCertificate(services, applicationId);
      const stricter = await startTestGds(backend, { dataDir: gds.dataDir, database: gds.database }, { env: { ...ENV, OPCUA_GDS_KEY_SIZE: "3072", OPCUA_GDS_SCHEDULER_INTERVAL: "off" } });
      try {
        assert.equal(stricter.gds.scheduler, null, "scheduler off");
        assert.ok(Date.now() < issued.renewalAtMs, "still before the renewal time");
        const status = await withDirectory(stricter, admin, (d) => new CertificateClient(d).getCertificateStatus(appId));
        assert.equal(status, true, "a 2048-bit key under a 3072-bit key policy needs an update");
      } finally {
        await stricter.stop({ keepData: true });
      }
      await withDirectory(gds, admin, async (d) => {
        const c = new CertificateClient(d);
        if (Date.now() < issued.renewalAtMs - 1000) assert.equal(await c.getCertificateStatus(appId), false, "before the renewal time");
        await new Promise((r) => setTimeout(r, Math.max(0, issued.renewalAtMs - Date.now() + 100)));
        assert.equal(await c.getCertificateStatus(appId), true, "from the renewal time on");
      });
    });

    it("a push-managed device is renewed by the scheduler before its certificate expires, with no operator action", async () => {
      const renewed = await newCertificateOn(RENEWS);
      assert.ok(Date.now() < first[RENEWS].notAfterMs, "renewed before the first certificate expired");
      const issued = (await services.certificates.listCertificates({ applicationId: ids[RENEWS] })).find((r) => r.thumbprint === thumbprintOf(renewed));
      assert.ok(issued, "the device presents a certificate the GDS issued to it");
      assert.ok(issued.revokedAtMs === null && issued.notAfterMs > Date.now());
      const ca = new X509Certificate(await fs.readFile(gds.caCertificateFile));
      assert.ok(new X509Certificate(renewed).verify(ca.publicKey), "signed by the GDS CA");
      const jobs = await schedulerJobs(services, ids[RENEWS]);
      const job = await waitFor("the scheduler's job to finish", async () => (await schedulerJobs(services, ids[RENEWS])).find((j) => j.issuedSerialHex === issued.serialHex && j.state === "succeeded"), 60_000);
      assert.equal(job.operation, "all", "trust list first, then the certificate");
      assert.ok(jobs.length >= 1);
      const audit = await services.audit.since(0, 100_000);
      assert.ok(audit.some((r) => r.actor === "scheduler" && r.action === "PushQueued" && r.subject.includes(first[RENEWS].applicationUri) && /renewal \(renewal-time\)/.test(r.details ?? "")), "queued by the scheduler, audited with its reason");
      assert.ok(audit.some((r) => r.actor === "scheduler" && r.action === "PushSucceeded" && r.subject.includes(first[RENEWS].applicationUri)));
    });

    it("a device outside its maintenance window is not pushed until the window opens, then it is renewed", async () => {
      const waiting = await waitFor("the scheduler's job for the windowed device", async () => (await schedulerJobs(services, ids[WINDOWED]))[0], Math.max(5000, first[WINDOWED].renewalAtMs - Date.now() + 30_000));
      assert.ok(waiting.createdAtMs < window.opensAtMs, `queued at the renewal time, before the window (${window.spec}) opened`);
      const queued = (await services.audit.since(0, 100_000)).find((r) => r.action === "PushQueued" && (r.details ?? "").includes(waiting.jobId));
      assert.match(queued?.details ?? "", new RegExp(`waits for the maintenance window opening ${new Date(window.opensAtMs).toISOString()}`));
      // Seen live when the test gets here before the window opens (the machine's load decides).
      if (Date.now() < window.opensAtMs - 2000) {
        assert.equal(waiting.state, "queued");
        assert.equal(waiting.attempts, 0, "not tried outside the window");
        assert.equal(waiting.nextAttemptAtMs, window.opensAtMs, "due when the window opens");
        assert.match(waiting.reason ?? "", /maintenance window/);
        assert.equal(thumbprintOf(await presentedCertificate(simulator.devices[WINDOWED].endpointUrl)), first[WINDOWED].thumbprint, "still the first certificate");
      }
      const renewed = await newCertificateOn(WINDOWED);
      const issued = (await services.certificates.listCertificates({ applicationId: ids[WINDOWED] })).find((r) => r.thumbprint === thumbprintOf(renewed));
      assert.ok(issued, "a certificate the GDS issued to it");
      const backdateMs = LIFETIME_S * 100;
      assert.ok(issued.notBeforeMs + backdateMs >= window.opensAtMs, "issued only after the window opened");
      assert.ok(Date.now() < first[WINDOWED].notAfterMs, "before the first certificate expired");
      const show = await services.push.devices.settingsOf(ids[WINDOWED]);
      assert.equal(show.maintenanceWindow, window.spec);
      assert.equal(show.maintenanceTimeZone, "UTC");
    });

    it("a device out of reach backs off exponentially while the others proceed", async () => {
      const failing = await waitFor(
        "three failed attempts on the unreachable device",
        async () => (await schedulerJobs(services, ids[FAILS])).find((j) => j.attempts >= 3 && j.state === "queued"),
        120_000,
        200,
      );
      assert.match(failing.reason ?? "", /reach|refused|connect/i, failing.reason ?? "");
      assert.equal(failing.nextAttemptAtMs - failing.updatedAtMs, retryDelayMs(failing.attempts), "the wait after attempt n is the push back-off of attempt n");
      const later = await waitFor(
        "a further failed attempt",
        async () => (await schedulerJobs(services, ids[FAILS])).find((j) => j.jobId === failing.jobId && j.attempts > failing.attempts && j.state === "queued"),
        120_000,
        200,
      );
      assert.ok(later.nextAttemptAtMs - later.updatedAtMs > failing.nextAttemptAtMs - failing.updatedAtMs, "the wait grows");
      // The reachable device was renewed meanwhile (the previous test): a failing device holds up no other.
      assert.ok((await schedulerJobs(services, ids[RENEWS])).some((j) => j.state === "succeeded"));
    });

  });
}

describe("lifecycle scheduler, two instances on one PostgreSQL", { timeout: 600_000 }, () => {
  let root: string;
  let a: TestGds;
  let b: TestGds;
  let simulator: Simulator & { basePort: number };
  let ids: string[];

  before(async () => {
    root = await tempDir("lifecycle-pg");
    setCliWorkDir(root);
    a = await startTestGds("postgres", undefined, { env: ENV });
    b = await startTestGds("postgres", { dataDir: a.dataDir, database: a.database }, { env: ENV });
    ({ simulator, ids } = await commissionDevices(a, root, 3));
  });

  after(async () => {
    await simulator?.stop();
    await b?.stop({ keepData: true });
    await a?.stop();
    await disposeClientStores();
    killChildren();
    await fs.rm(root, { recursive: true, force: true });
  });

  it("one instance acts; every due device is renewed exactly once per renewal; the other takes over when it stops", async () => {
    const services = a.gds.services;
    await waitFor(
      "a scheduler renewal of every device",
      async () => {
        for (const id of ids) if (!(await schedulerJobs(services, id)).some((j) => j.state === "succeeded")) return false;
        return true;
      },
      (LIFETIME_S - 10) * 1000,
      1000,
    );
    const acting = [a.gds.scheduler!, b.gds.scheduler!].filter((s) => s.isActing);
    assert.equal(acting.length, 1, "exactly one instance acts");
    const [leader, follower] = a.gds.scheduler!.isActing ? [a, b] : [b, a];
    await leader.gds.scheduler!.stop();
    await waitFor("the other instance to take over", async () => follower.gds.scheduler!.isActing, 30_000);
    await follower.gds.scheduler!.stop();
    for (const id of ids) {
      const jobs = await schedulerJobs(services, id);
      assert.ok(!jobs.some((j) => j.state === "running"), "the stopped schedulers left nothing running");
      const delivered = jobs.filter((j) => j.state === "succeeded").map((j) => j.issuedSerialHex);
      assert.equal(new Set(delivered).size, delivered.length, "each renewal job delivered its own certificate");
      const certificates = await services.certificates.listCertificates({ applicationId: id });
      const byScheduler = jobs.filter((j) => j.issuedSerialHex !== null).length;
      assert.equal(certificates.length, 1 + byScheduler, "one certificate from commissioning, one per renewal job: none issued twice");
      assert.ok(!jobs.some((j) => /another instance took this job over/.test(j.reason ?? "")), "no instance ran another's job");
    }
    const turns = (await services.audit.since(0, 100_000)).filter((r) => r.action === "SchedulerActing" || r.action === "SchedulerStoppedActing").map((r) => `${r.action} ${r.subject}`);
    const [l, f] = [leader.gds.services.push.instanceId, follower.gds.services.push.instanceId];
    assert.deepEqual(turns, [`SchedulerActing ${l}`, `SchedulerStoppedActing ${l}`, `SchedulerActing ${f}`, `SchedulerStoppedActing ${f}`], "never two acting at once");
  });
});
