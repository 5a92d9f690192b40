/**
 * Two instances on one PostgreSQL database (issue 6): two `opcua-gds start` child processes share
 * the database, each with its own copy of the data folder the first one created (CA key, GDS
 * certificate and key, secret.key), as two machines behind one address would. Registrations,
 * issuances over SignAndEncrypt and a revocation are interleaved across both; then a 20-device
 * rollout is handed to them with `push all --all --queue`, and the acting instance is killed with
 * SIGKILL midway: the other takes over (the advisory lock goes with the dead connection) and
 * finishes, and every device is updated exactly once. PostgreSQL only: the point is the shared
 * database (one SQLite file belongs to one process).
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { StatusCodes } from "node-opcua";
import { CertificateClient, type DirectoryClient } from "../../src/client/directory-client";
import { GdsClient } from "../../src/client/gds-client";
import { parseApplicationId } from "../../src/domain/application-id";
import { caFolder, cli, killChildren, killIfRunning, setCliWorkDir, startServer, stopServer, withDirectory, type RunningServer } from "../helpers/cli";
import { issuedClient, sessionOpens, type ClientIdentity } from "../helpers/client-identities";
import { inspector, type Inspector } from "../helpers/crash-scenario";
import { createTestDatabase, type TestDatabase } from "../helpers/databases";
import { ADMIN_PASSWORD, tempDir } from "../helpers/gds-fixture";
import { commission, issuedPerApplication, midRollout, ownerPid, queueRollout, rolloutFinished, rolloutProblems, storedJobs, type RegisteredDevice } from "../helpers/queued-rollout";
import { clientRecord } from "../helpers/records";
import { freePorts, simulatedDeviceRecord, startSimulator, type Simulator } from "../helpers/simulator";
import { withStatus } from "../helpers/status";
import { waitFor } from "../helpers/wait";

const DEVICES = 20;
const DEVICE_PASSWORD = "two-instances-device-password";
const ADMIN = { userName: "admin", password: ADMIN_PASSWORD };
const ENV = {
  OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD,
  OPCUA_GDS_SCHEDULER_INTERVAL: "1s",
  OPCUA_GDS_PUSH_USER: "admin",
  OPCUA_GDS_PUSH_PASSWORD: DEVICE_PASSWORD,
  // A job running on a killed instance is resumed once its lease (this plus 10 s) has run out.
  OPCUA_GDS_PUSH_TIMEOUT: "20s",
};

/** One of the two instances: its data folder, port and process. */
interface Instance {
  name: "A" | "B";
  dataDir: string;
  port: number;
  /** Its endpoint on loopback (the endpoint URLs it announces name the shared public host). */
  url: string;
  server?: RunningServer;
}

describe("two instances on one PostgreSQL database (built CLI)", { timeout: 1_500_000 }, () => {
  let root: string;
  let database: TestDatabase;
  let db: Inspector;
  let simulator: Simulator;
  const instances: Instance[] = [];
  const devices: RegisteredDevice[] = [];
  const clients: Array<ClientIdentity & { serial: string; applicationId: string; certificate: Buffer; via: string }> = [];

  const args = (i: Instance) => ["--data", i.dataDir, "--db", database.url!, "--port", String(i.port), "--host", "127.0.0.1", "--public-host", "localhost"];
  const target = () => ["--data", instances[0].dataDir, "--db", database.url!];
  const ca = () => ({ caCertificateFile: path.join(caFolder(instances[0].dataDir), "ca.cert.pem"), caCrlFile: path.join(caFolder(instances[0].dataDir), "ca.crl.pem") });
  const pki = () => tempDir("two-instances-client");
  const directoryOf = async <T>(i: Instance, work: (d: DirectoryClient) => Promise<T>) => {
    const folder = await pki();
    try {
      return await withDirectory(i.url, i.dataDir, folder, ADMIN, work);
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  };

  before(async () => {
    root = await tempDir("two-instances");
    setCliWorkDir(root);
    database = await createTestDatabase("postgres");
    const base = await freePorts(2);
    for (const [k, name] of (["A", "B"] as const).entries()) {
      instances.push({ name, dataDir: path.join(root, `gds-${name}`), port: base + k, url: `opc.tcp://127.0.0.1:${base + k}` });
    }
    const [a, b] = instances;
    const simulator$ = startSimulator({ count: DEVICES, dataDir: path.join(root, "devices"), password: DEVICE_PASSWORD });
    // The first start creates the data folder (CA, GDS certificate, secret.key) and the schema;
    // the second instance gets a copy of that folder, as a second machine would.
    await stopServer(await startServer(args(a), { env: ENV }));
    await fs.cp(a.dataDir, b.dataDir, { recursive: true });
    [a.server, b.server] = await Promise.all([startServer(args(a), { env: ENV }), startServer(args(b), { env: ENV })]);
    simulator = await simulator$;
    db = await inspector("postgres", a.dataDir, database.url);
  });

  after(async () => {
    await db?.close();
    await simulator?.stop();
    for (const i of instances) await killIfRunning(i.server);
    killChildren();
    await database?.drop();
    await fs.rm(root, { recursive: true, force: true });
  });

  it("both instances present the same GDS: one certificate, one CA", async () => {
    for (const file of ["server-pki/own/certs/gds-server.pem", "secret.key", "ca/DefaultApplicationGroup/RsaSha256ApplicationCertificateType/ca.cert.pem"]) {
      assert.deepEqual(await fs.readFile(path.join(instances[1].dataDir, file)), await fs.readFile(path.join(instances[0].dataDir, file)), file);
    }
    for (const i of instances) assert.match(i.server!.endpointUrl, /^opc\.tcp:\/\/localhost:\d+/, `${i.name} announces the shared public host`);
  });

  it("registrations alternate between the instances; one ApplicationUri registered through both at once: one wins, the other gets Bad_EntryExists", async () => {
    await directoryOf(instances[0], (a) =>
      directoryOf(instances[1], async (b) => {
        for (const device of simulator.devices) {
          const through = device.index % 2 === 0 ? a : b;
          devices.push({ device, applicationId: parseApplicationId(await through.registerApplication(await simulatedDeviceRecord(device))) });
        }
        for (let round = 0; round < 5; round++) {
          const record = clientRecord(`race-${round}`);
          const results = await Promise.allSettled([a.registerApplication(record), b.registerApplication(record)]);
          const won = results.filter((r) => r.status === "fulfilled");
          const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
          assert.equal(won.length, 1, `round ${round}: exactly one registration wins`);
          assert.equal(lost.length, 1);
          assert.ok(withStatus(StatusCodes.BadEntryExists)(lost[0].reason));
          // Either instance finds the one record.
          for (const d of [a, b]) assert.deepEqual((await d.findApplications(record.applicationUri)).map((r) => r.applicationId), [(won[0] as PromiseFulfilledResult<string>).value]);
        }
        // A device registered through A is found through B and the other way round.
        for (const { device, applicationId } of devices.slice(0, 2)) {
          for (const d of [a, b]) assert.equal(parseApplicationId((await d.findApplications(device.applicationUri))[0].applicationId), applicationId);
        }
      }),
    );
    assert.equal(devices.length, DEVICES);
  });

  it("certificates are issued over SignAndEncrypt through both instances at once, each with its own serial and row", async () => {
    const issued = await Promise.all(
      Array.from({ length: 6 }, (_, k) => {
        const via = instances[k % 2];
        return issuedClient({ endpointUrl: via.url, caCertificateFile: ca().caCertificateFile }, root, `issued-${k}`).then((c) => ({ ...c, via: via.name }));
      }),
    );
    clients.push(...issued);
    assert.equal(new Set(issued.map((c) => c.serial.toLowerCase())).size, issued.length);
    const rows = await db.all<{ serial: string }>("SELECT serial FROM issued_certificates");
    for (const c of issued) assert.equal(rows.filter((r) => r.serial === c.serial.toLowerCase()).length, 1, `certificate ${c.serial} (through ${c.via}) has one row`);
  });

  it("a revocation made through A is honoured by B: CheckRevocationStatus, GetCertificateStatus, B's trust list and B's secure channel", async () => {
    const [a, b] = instances;
    const revoked = clients.find((c) => c.via === "B")!;
    const kept = clients.find((c) => c !== revoked && c.via === "A")!;
    assert.equal(await sessionOpens(b.url, revoked, ca()), true, "before the revocation B lets the client in");
    await directoryOf(a, (d) => new CertificateClient(d).revokeCertificate(revoked.applicationId, revoked.certificate));
    await directoryOf(b, async (d) => {
      assert.equal((await new CertificateClient(d).checkRevocationStatus(revoked.certificate)).status.value, StatusCodes.BadCertificateRevoked.value);
    });
    const gdsB = await GdsClient.connect({ endpointUrl: b.url, gdsTrust: { certificates: [await fs.readFile(ca().caCertificateFile)] }, user: ADMIN });
    try {
      assert.equal(await gdsB.getCertificateStatus(revoked.applicationId), true, "B says UpdateRequired for the revoked certificate");
      await waitFor(
        "B's trust list to carry the CRL that lists the revoked certificate",
        async () => {
          const list = await gdsB.getTrustList(revoked.applicationId);
          return [...list.trustedCrls, ...list.issuerCrls].some((crl) => crl.revokedSerialNumbers.includes(revoked.serial.toLowerCase()));
        },
        60_000,
        1000,
      );
    } finally {
      await gdsB.close();
    }
    await waitFor("B to refuse a secure channel from the revoked certificate", async () => !(await sessionOpens(b.url, revoked, ca())), 60_000, 1000);
    assert.equal(await sessionOpens(b.url, kept, ca()), true, "a certificate that was not revoked still gets in");
  });

  it("a 20-device rollout queued with push all --all --queue: the acting instance is killed midway, the other finishes it, every device updated exactly once", async () => {
    await commission(target(), devices, ENV);
    const issuedBefore = await issuedPerApplication(db);
    const jobsBefore = await db.all<{ id: string }>("SELECT id FROM push_jobs");
    const refused = await cli(["push", "all", "--all", "--queue", "--concurrency", "4", "--trust-device-certificate", ...target()], { env: ENV });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /--queue hands the jobs to the running GDS.*drop --concurrency, --trust-device-certificate/);
    assert.equal((await db.all<{ id: string }>("SELECT id FROM push_jobs")).length, jobsBefore.length, "a refused --queue queues nothing");
    const jobIds = await queueRollout(target(), ENV, DEVICES);
    const jobs = await storedJobs(db, jobIds);
    assert.ok(jobs.every((j) => j.created_by.startsWith("queue:")), "the jobs are handed to the running GDS");

    const { succeeded, running, owners } = await midRollout(db, jobIds, (jobs) => jobs.filter((j) => j.state === "succeeded").length >= 3);
    const pids = new Set(owners.map(ownerPid));
    assert.equal(pids.size, 1, `one instance runs the jobs (owners ${owners.join(", ")})`);
    const acting = instances.find((i) => i.server!.child.pid === [...pids][0]);
    assert.ok(acting, `the owner ${owners[0]} is one of the two instances`);
    const survivor = instances.find((i) => i !== acting)!;
    acting.server!.child.kill("SIGKILL");
    await acting.server!.closed;
    process.stderr.write(`killed instance ${acting.name} after ${succeeded} of ${DEVICES} jobs succeeded; ${running} job(s) were running there\n`);

    const finished = await rolloutFinished(db, jobIds);
    assert.deepEqual(finished.filter((j) => j.state !== "succeeded").map((j) => `${j.id} ${j.state} ${j.step}: ${j.last_status ?? ""} ${j.reason ?? ""}`), []);
    const taken = await db.all<{ subject: string }>("SELECT subject FROM audit_records WHERE action = 'SchedulerActing' ORDER BY seq DESC LIMIT 1");
    assert.equal(ownerPid(taken[0].subject), survivor.server!.child.pid, `instance ${survivor.name} acts now`);
    const resumed = finished.filter((j) => j.attempts > 1).length;
    process.stderr.write(`instance ${survivor.name} finished the rollout; ${resumed} job(s) took more than one attempt\n`);
    assert.deepEqual(await rolloutProblems(db, { jobIds, devices, issuedBefore }), []);
  });
});
