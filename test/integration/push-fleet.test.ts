/**
 * Push to a fleet (OPC 10000-12 §7.10): 21 simulated devices in a child process (`opcua-gds
 * simulate`) plus one endpoint where nothing listens, registered in a GDS that runs in this process,
 * pushed to by the built CLI (`opcua-gds push all --all`) on the same data folder and database.
 * Every outcome is checked on the devices themselves: a new connection sees the issued certificate,
 * which chains to the GDS CA (node:crypto), and the trust list read back is the GDS's.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { openServices } from "../../src/app";
import { resolveConfig } from "../../src/config/config";
import { formatApplicationId } from "../../src/domain/application-id";
import { DEFAULT_APPLICATION_GROUP } from "../../src/domain/certificate-groups";
import { PushInterrupted } from "../../src/services/push-service";
import { thumbprintOf } from "../../src/domain/thumbprint";
import { trustListDigest } from "../../src/domain/push";
import { MessageSecurityMode, OPCUACertificateManager, OPCUAClient, SecurityPolicy } from "node-opcua";
import type { Backend } from "../helpers/databases";
import { inspectCertificate, selfSignedApplicationCertificate } from "../helpers/certificates";
import { cli, killChildren, setCliWorkDir } from "../helpers/cli";
import { startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { presentedCertificate, readDeviceTrustList, registerSimulatedDevice, startSimulator, type Simulator } from "../helpers/simulator";

const DEVICES = 21;
const REFUSES = 2;
const WRONG_PASSWORD = 3;
const NO_KEY_GENERATION = 4;
const DEVICE_USER = "admin";
const DEVICE_PASSWORD = "sim-device-password";
const OPERATOR = "push-operator";

interface OutcomeJson {
  applicationId: string;
  applicationUri: string;
  endpointUrl: string | null;
  result: "ok" | "failed" | "skipped";
  reason: string;
  step: string;
  attempts: number;
  lastStatus: string | null;
  serialHex: string | null;
}

// One backend: the job store on PostgreSQL is exercised by push-jobs, the crash test of a queued rollout and the two-instance test.
for (const backend of ["sqlite"] as Backend[]) {
  describe(`push to a fleet of simulated devices (${backend})`, { timeout: 600_000 }, () => {
    let root: string;
    let gds: TestGds;
    let simulator: Simulator & { basePort: number };
    let caCertificate: X509Certificate;
    /** ApplicationId (GUID) per device index; the last entry is the unreachable one. */
    const ids: string[] = [];
    let unreachableUrl: string;

    /** The CLI on the GDS's folder and database, with the fleet's default device credentials. */
    const gdsCli = (args: string[], input?: string) =>
      cli([...args, "--data", gds.dataDir, ...(gds.database.url ? ["--db", gds.database.url] : [])], {
        env: { USER: OPERATOR, OPCUA_GDS_PUSH_USER: DEVICE_USER, OPCUA_GDS_PUSH_PASSWORD: DEVICE_PASSWORD },
        input,
        timeoutMs: 300_000,
      });

    before(async () => {
      root = await tempDir("push-fleet");
      setCliWorkDir(root);
      [gds, simulator] = await Promise.all([
        startTestGds(backend),
        startSimulator({ count: DEVICES, dataDir: path.join(root, "devices"), password: DEVICE_PASSWORD, refuseCertificate: [REFUSES], noKeyGeneration: [NO_KEY_GENERATION] }),
      ]);
      unreachableUrl = `opc.tcp://127.0.0.1:${simulator.basePort + DEVICES}`;
      caCertificate = new X509Certificate(await fs.readFile(gds.caCertificateFile));
      for (const device of simulator.devices) ids[device.index] = await registerSimulatedDevice(gds.gds.services.directory, device);
      ids[DEVICES] = await gds.gds.services.directory.registerApplication("test", {
        applicationUri: "urn:plant1:unplugged:plc",
        applicationType: 0,
        applicationNames: [{ locale: "en", text: "Unplugged PLC" }],
        productUri: "urn:vendor:plc",
        discoveryUrls: [unreachableUrl],
        serverCapabilities: [],
      });
    });

    after(async () => {
      await simulator?.stop();
      await gds?.stop();
      killChildren();
      await fs.rm(root, { recursive: true, force: true });
    });

    it("an unknown device is refused until an operator pins what it presents (app trust)", async () => {
      const id = formatApplicationId(ids[0]);
      const refused = await gdsCli(["push", "trustlist", id, "--json", "--retries", "0"]);
      assert.equal(refused.code, 1, refused.stderr);
      const [outcome] = (JSON.parse(refused.stdout) as { outcomes: OutcomeJson[] }).outcomes;
      assert.equal(outcome.result, "failed");
      assert.match(outcome.reason, /^the device presents a certificate the GDS does not know, thumbprint [0-9a-f]{40}: .*opcua-gds app trust/);
      assert.equal(outcome.attempts, 1, "a refused certificate is not retried");

      const device = await presentedCertificate(simulator.devices[0].endpointUrl);
      const trusted = await gdsCli(["app", "trust", id]);
      assert.equal(trusted.code, 0, trusted.stderr);
      assert.ok(trusted.stdout.includes(thumbprintOf(device)), `app trust shows the thumbprint the device presents:\n${trusted.stdout}`);
      assert.equal((await gds.gds.services.push.devices.settingsOf(ids[0])).pinnedThumbprint, thumbprintOf(device));
    });

    it("push credentials stores a device's own user, sealed: the database never holds the password", async () => {
      const r = await gdsCli(["push", "credentials", formatApplicationId(ids[WRONG_PASSWORD]), "--user", DEVICE_USER, "--password-stdin"], "not-the-password\n");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /user 'admin' \(device\)/);
      const rows: Array<{ sealed_password: string }> = await gds.gds.services.db.dataSource.query("SELECT sealed_password FROM push_settings WHERE sealed_password IS NOT NULL");
      assert.equal(rows.length, 1);
      assert.ok(!rows[0].sealed_password.includes("not-the-password") && rows[0].sealed_password.startsWith("v1:"));
    });

    let outcomes: OutcomeJson[];

    it("push all --all updates every device but the unreachable one, the refused user and the refusing device, and says why for each", async () => {
      const t0 = Date.now();
      const r = await gdsCli(["push", "all", "--all", "--json", "--trust-device-certificate", "--retries", "1", "--timeout", "60", "--concurrency", "16"]);
      const wallMs = Date.now() - t0;
      assert.equal(r.code, 1, `exit 1 when a device failed\n${r.stderr}`);
      outcomes = (JSON.parse(r.stdout) as { outcomes: OutcomeJson[] }).outcomes;
      assert.equal(outcomes.length, DEVICES + 1);
      const byId = new Map(outcomes.map((o) => [o.applicationId, o]));
      const of = (i: number) => byId.get(formatApplicationId(ids[i]))!;

      assert.equal(of(DEVICES).result, "failed");
      assert.equal(of(DEVICES).reason, `cannot reach ${unreachableUrl}: connection refused (nothing listens on that port, or the device is off)`);
      assert.equal(of(DEVICES).attempts, 2, "out of reach: retried once");

      assert.equal(of(WRONG_PASSWORD).result, "failed");
      assert.match(of(WRONG_PASSWORD).reason, /^device refused the user 'admin': Bad(UserAccessDenied|IdentityTokenRejected|IdentityTokenInvalid) - .* check push credentials$/);
      assert.equal(of(WRONG_PASSWORD).attempts, 1, "a refused user is not retried");

      assert.equal(of(REFUSES).result, "failed");
      assert.match(of(REFUSES).reason, /^device rejected the certificate: BadCertificateInvalid - \S/);
      assert.equal(of(REFUSES).lastStatus, "BadCertificateInvalid");

      const failed = new Set([DEVICES, WRONG_PASSWORD, REFUSES]);
      for (let i = 0; i < DEVICES; i++) {
        if (failed.has(i)) continue;
        assert.equal(of(i).result, "ok", `device ${i}: ${of(i).reason}`);
        assert.equal(of(i).step, "verified");
        assert.match(of(i).serialHex ?? "", /^[0-9a-f]+$/);
      }
      process.stderr.write(`push all to ${DEVICES + 1} devices (${backend}): ${wallMs} ms\n`);
    });

    it("each updated device presents the certificate issued to it, which chains to the GDS CA, and reads back the GDS's trust list", async () => {
      const expected = await gds.gds.services.certificates.trustListContent(DEFAULT_APPLICATION_GROUP);
      const issued = await gds.gds.services.certificates.listCertificates({});
      for (const o of outcomes.filter((x) => x.result === "ok")) {
        const device = simulator.devices.find((d) => d.applicationUri === o.applicationUri)!;
        const der = await presentedCertificate(device.endpointUrl);
        const row = issued.find((c) => c.serialHex === o.serialHex)!;
        assert.ok(row, `certificate ${o.serialHex} is in the database`);
        assert.ok(der.equals(row.der), `${o.applicationUri} presents the certificate issued to it`);
        const certificate = new X509Certificate(der);
        assert.ok(certificate.checkIssued(caCertificate) && certificate.verify(caCertificate.publicKey), `${o.applicationUri}: signed by the GDS CA`);
        assert.deepEqual(inspectCertificate(der).uris, [o.applicationUri]);
        const readBack = await readDeviceTrustList(device.endpointUrl, gds.dataDir, { userName: DEVICE_USER, password: DEVICE_PASSWORD }, path.join(root, "reader-pki"));
        assert.equal(trustListDigest(readBack), trustListDigest(expected), `${o.applicationUri}: trust list as written`);
        assert.deepEqual(readBack.trustedCertificates.map((b) => b.toString("hex")), expected.trustedCertificates.map((b) => b.toString("hex")));
      }
      // The device that could not make keys got a GDS-made key pair and uses it.
      const noKeys = outcomes.find((o) => o.applicationUri === simulator.devices[NO_KEY_GENERATION].applicationUri)!;
      const request = (await gds.gds.services.certificates.listRequests({ applicationId: ids[NO_KEY_GENERATION] })).find((r) => r.serialHex === noKeys.serialHex);
      assert.equal(request?.kind, "NewKeyPair");
      assert.equal(request?.state, "Accepted");
      // The certificate the refusing device did not take is revoked: it is nobody's current certificate.
      const refused = issued.filter((c) => c.applicationId === ids[REFUSES]);
      assert.equal(refused.length, 1);
      assert.notEqual(refused[0].revokedAtMs, null);
    });

    it("every push and its outcome is audited", async () => {
      const audit = await gds.gds.services.audit.since(0, 100_000);
      for (let i = 0; i <= DEVICES; i++) {
        const subject = formatApplicationId(ids[i]);
        const outcome = outcomes.find((o) => o.applicationId === subject)!;
        const action = outcome.result === "ok" ? "PushSucceeded" : "PushFailed";
        assert.ok(audit.some((a) => a.action === action && a.subject.startsWith(subject) && a.actor === `cli:${OPERATOR}`), `${action} of device ${i}`);
      }
    });

    it("push rejected lists a client the device refused; --trust adds it to the device's trust list, and later trust-list pushes keep it", async () => {
      const device = simulator.devices[1];
      const id = formatApplicationId(ids[1]);
      const rogue = await selfSignedApplicationCertificate("urn:plant1:line1:hmi", root, "hmi");
      const rogueDer = Buffer.from(new X509Certificate(await fs.readFile(rogue.certificateFile)).raw);
      const manager = new OPCUACertificateManager({ rootFolder: path.join(root, "hmi-pki"), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
      await manager.initialize();
      const client = OPCUAClient.create({ applicationName: "hmi", applicationUri: rogue.applicationUri, certificateFile: rogue.certificateFile, privateKeyFile: rogue.privateKeyFile, clientCertificateManager: manager, securityMode: MessageSecurityMode.SignAndEncrypt, securityPolicy: SecurityPolicy.Basic256Sha256, endpointMustExist: false, connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 } });
      await assert.rejects(client.connect(device.endpointUrl), "the commissioned device refuses an unknown client");
      await client.disconnect();
      await manager.dispose();

      // One call lists what the device rejected and trusts the HMI among them.
      const thumbprint = thumbprintOf(rogueDer);
      const trusted = await gdsCli(["push", "rejected", id, "--trust", thumbprint, "--json"]);
      assert.equal(trusted.code, 0, trusted.stderr);
      const answer = JSON.parse(trusted.stdout) as { rejected: Array<{ thumbprint: string; applicationUri: string }>; trusted: { thumbprint: string } };
      assert.ok(answer.rejected.some((r) => r.thumbprint === thumbprint && r.applicationUri === rogue.applicationUri), "GetRejectedList names the HMI");
      assert.equal(answer.trusted.thumbprint, thumbprint);
      const reader = { userName: DEVICE_USER, password: DEVICE_PASSWORD };
      const hasRogue = async () => (await readDeviceTrustList(device.endpointUrl, gds.dataDir, reader, path.join(root, "reader-pki"))).trustedCertificates.some((c) => c.equals(rogueDer));
      assert.ok(await hasRogue(), "AddCertificate put it into the device's trusted certificates");

      const pushed = await gdsCli(["push", "trustlist", id, "--json"]);
      assert.equal(pushed.code, 0, pushed.stdout + pushed.stderr);
      assert.ok(await hasRogue(), "the next trust-list push (write with erase) kept it");
    });

    it("a push interrupted after signing resumes from its step and delivers the certificate already issued", async () => {
      const target = 0;
      const applicationId = ids[target];
      const before = (await gds.gds.services.certificates.listCertificates({ applicationId })).length;
      const presentedBefore = await presentedCertificate(simulator.devices[target].endpointUrl);
      // A first instance dies right after the certificate is issued and recorded.
      const config = resolveConfig({ data: gds.dataDir, db: gds.database.url, port: 0, host: "127.0.0.1" }, { OPCUA_GDS_PUSH_USER: DEVICE_USER, OPCUA_GDS_PUSH_PASSWORD: DEVICE_PASSWORD });
      const crashing = await openServices(config, undefined, {
        push: {
          instanceId: "instance-that-dies",
          // Its lease outlives it by 20 s: long enough to see another run (a CLI process) keep off on a busy machine, short for a test.
          policy: { regeneratePrivateKey: true, retry: { firstDelayMs: 500, maxDelayMs: 500 }, leaseMarginMs: 20_000, pollIntervalMs: 100, verifyPollMs: 200 },
          afterStep: (_job, step) => {
            if (step === "certificate-issued") throw new PushInterrupted("simulated crash after signing");
          },
        },
      });
      let serial: string;
      try {
        const [interrupted] = await crashing.push.run("test", { operation: "cert", selection: { applicationIds: [applicationId] }, concurrency: 1, timeoutMs: 4000, retries: 0, trustDeviceCertificate: false });
        assert.equal(interrupted.result, "skipped");
        assert.equal(interrupted.step, "certificate-issued");
        serial = interrupted.serialHex!;
        const [job] = await crashing.push.listJobs({ applicationId, activeOnly: true });
        assert.equal(job.state, "running", "the job stays as the dead instance left it");
        assert.equal(job.owner, "instance-that-dies");
        assert.equal(job.issuedSerialHex, serial);
      } finally {
        await crashing.close();
      }
      assert.equal((await gds.gds.services.certificates.listCertificates({ applicationId })).length, before + 1);
      assert.ok((await presentedCertificate(simulator.devices[target].endpointUrl)).equals(presentedBefore), "the device did not change: its transaction was dropped with the session");

      // While the dead instance's lease lasts, another run leaves the device alone.
      const early = await gdsCli(["push", "cert", formatApplicationId(applicationId), "--json"]);
      const [skipped] = (JSON.parse(early.stdout) as { outcomes: OutcomeJson[] }).outcomes;
      assert.equal(skipped.result, "skipped");
      assert.match(skipped.reason, /^another push to this device is running \(job [0-9a-f-]+, instance-that-dies, step certificate-issued\)$/);

      // After it, the next run resumes the job from its step: no second certificate.
      const [job] = await gds.gds.services.push.listJobs({ applicationId, activeOnly: true });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, job.leaseExpiresAtMs! - Date.now() + 100)));
      const r = await gdsCli(["push", "cert", formatApplicationId(applicationId), "--json"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const [resumed] = (JSON.parse(r.stdout) as { outcomes: OutcomeJson[] }).outcomes;
      assert.equal(resumed.result, "ok", resumed.reason);
      assert.equal(resumed.serialHex, serial);
      assert.equal(resumed.attempts, 2, "the resumed job counts the interrupted attempt");
      assert.equal((await gds.gds.services.certificates.listCertificates({ applicationId })).length, before + 1, "nothing was signed twice");
      const now = await presentedCertificate(simulator.devices[target].endpointUrl);
      assert.equal((await gds.gds.services.certificates.listCertificates({ applicationId })).find((c) => c.serialHex === serial)?.thumbprint, thumbprintOf(now));
    });
  });
}
