/**
 * End-to-end tests of `opcua-gds backup` and `opcua-gds restore` with the built CLI, on SQLite and
 * PostgreSQL: a backup taken while `opcua-gds start` issues certificates to several clients, a
 * restore into a fresh folder and database (and into the other backend), a start on the restored
 * data, and the refusals of damaged, foreign and misplaced restores.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CertificateClient } from "../../src/client/directory-client";
import { makeCsr, testKeyPair, x509 } from "../helpers/certificates";
import { caFolder, cli, cliJson, cliOk, killChildren, killIfRunning, setCliWorkDir, startServer, stopServer, withDirectory, type RunningServer } from "../helpers/cli";
import { BACKENDS, createTestDatabase, type Backend, type TestDatabase } from "../helpers/databases";
import { tempDir } from "../helpers/gds-fixture";
import { IssuanceLoad } from "../helpers/issuance-load";
import { serverRecord } from "../helpers/records";

const ADMIN_PASSWORD = "admin-e2e-backup-password";
const ADMIN = { userName: "admin", password: ADMIN_PASSWORD };

interface CertJson {
  serial: string;
  applicationId: string;
  applicationUri: string;
  state: string;
}
interface AppJson {
  applicationId: string;
  applicationUri: string;
}
interface AuditJson {
  action: string;
  details?: string;
}

let root: string;
const databases: TestDatabase[] = [];

before(async () => {
  root = await tempDir("e2e-backup");
  setCliWorkDir(root);
});

after(async () => {
  killChildren();
  for (const db of databases) await db.drop().catch(() => undefined);
  await fs.rm(root, { recursive: true, force: true });
});

async function database(backend: Backend): Promise<TestDatabase> {
  const db = await createTestDatabase(backend);
  databases.push(db);
  return db;
}

/** --data and, for PostgreSQL, --db. */
function target(dataDir: string, db: TestDatabase): string[] {
  return ["--data", dataDir, ...(db.url ? ["--db", db.url] : [])];
}

/** The CRLNumber of the CRL file the GDS publishes beside its CA certificate. */
async function publishedCrlNumber(dataDir: string): Promise<bigint> {
  const crl = new x509.X509Crl(await fs.readFile(path.join(caFolder(dataDir), "ca.crl.pem"), "utf8"));
  const ext = crl.extensions.find((e) => e.type === "2.5.29.20");
  assert.ok(ext, "the CRL has no CRLNumber");
  // DER INTEGER: tag 02, length, big-endian value.
  const value = Buffer.from(ext.value).subarray(2);
  return BigInt(`0x${value.toString("hex")}`);
}

/** Checks that each certificate has its CertificateIssued audit record and each such record its certificate. */
function assertIssuanceAudited(certs: CertJson[], audit: AuditJson[]): void {
  const audited = new Set(audit.filter((a) => a.action === "CertificateIssued").map((a) => /serial=([0-9a-f]+)/.exec(a.details ?? "")?.[1]));
  const rows = new Set(certs.map((c) => c.serial));
  for (const c of certs) assert.ok(audited.has(c.serial), `certificate ${c.serial} has no CertificateIssued audit record`);
  for (const s of audited) assert.ok(s && rows.has(s), `audit record of ${s} without its certificate row`);
}

for (const backend of BACKENDS) {
  describe(`backup and restore with the built CLI (${backend})`, () => {
    it("a backup taken while the GDS issues restores into a fresh folder and database: same applications, users and certificates; CRL numbers keep increasing; new serials", async () => {
      const dataA = path.join(root, `${backend}-a`);
      const dbA = await database(backend);
      const env = { OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD };
      let server: RunningServer | undefined = await startServer([...target(dataA, dbA), "--port", "0", "--host", "127.0.0.1"], { env });
      let load: IssuanceLoad | undefined;
      try {
        await cliOk(["user", "add", "operator", "--roles", "DiscoveryAdmin", "--password-stdin", ...target(dataA, dbA)], { input: "operator-password-1" });
        load = await IssuanceLoad.start({ endpointUrl: server.endpointUrl, dataDir: dataA, user: ADMIN, workers: 4, prefix: `${backend}-bk` });
        await load.waitFor(12);
        const receivedBeforeBackup = load.received.length;
        const backupFile = path.join(root, `${backend}.gdsbackup`);
        const t0 = Date.now();
        const report = await cliJson<{ file: string; rows: Record<string, number>; files: number; sha256: string }>(["backup", backupFile, "--json", ...target(dataA, dbA)]);
        const backupMs = Date.now() - t0;
        const issuedDuringBackup = load.received.length - receivedBeforeBackup;
        await load.waitFor(load.received.length + 4);
        await load.stop();
        assert.deepEqual(load.failures, [], "issuance failed while the backup ran");
        const received = load.received;
        const beforeBackup = received.slice(0, receivedBeforeBackup);
        process.stderr.write(`[${backend}] backup of ${report.rows.issued_certificates} certificates took ${backupMs} ms while ${issuedDuringBackup} more were issued\n`);

        assert.equal((await fs.stat(backupFile)).mode & 0o777, 0o600, "the backup holds CA keys: mode 0600");
        // A revocation after the backup: its CRL number is published, then lost with the restore.
        const revokedAfter = beforeBackup[0];
        await cliOk(["cert", "revoke", revokedAfter.serial, ...target(dataA, dbA)]);
        const highestPublished = await publishedCrlNumber(dataA);
        const certsA = await cliJson<CertJson[]>(["cert", "list", "--json", ...target(dataA, dbA)]);
        const appsA = await cliJson<AppJson[]>(["app", "list", "--json", ...target(dataA, dbA)]);
        await stopServer(server);
        server = undefined;

        // Restore into a fresh folder and database of the same backend.
        const dataB = path.join(root, `${backend}-b`);
        const dbB = await database(backend);
        const restored = await cliJson<{ rows: Record<string, number>; crlNumberFloor: number }>(["restore", backupFile, "--json", ...target(dataB, dbB)]);
        assert.deepEqual(restored.rows.issued_certificates, report.rows.issued_certificates);
        assert.equal((await fs.stat(path.join(caFolder(dataB), "ca.key.pem"))).mode & 0o777, 0o600, "restored CA key keeps mode 0600");
        assert.equal((await fs.stat(path.join(dataB, "secret.key"))).mode & 0o777, 0o600);
        assert.deepEqual(await fs.readFile(path.join(caFolder(dataB), "ca.key.pem")), await fs.readFile(path.join(caFolder(dataA), "ca.key.pem")), "the CA key is restored byte for byte");

        server = await startServer([...target(dataB, dbB), "--port", "0", "--host", "127.0.0.1"], { env });
        const certsB = await cliJson<CertJson[]>(["cert", "list", "--json", ...target(dataB, dbB)]);
        const appsB = await cliJson<AppJson[]>(["app", "list", "--json", ...target(dataB, dbB)]);
        const usersB = await cliJson<Array<{ name: string; roles: string[] }>>(["user", "list", "--json", ...target(dataB, dbB)]);
        const auditB = await cliJson<AuditJson[]>(["audit", "--json", "--since", "1h", "--limit", "100000", ...target(dataB, dbB)]);

        // Consistent snapshot: exactly the certificates the backup counted, each with its audit record, every one issued by A.
        assert.equal(certsB.length, report.rows.issued_certificates);
        assertIssuanceAudited(certsB, auditB);
        const serialsA = new Set(certsA.map((c) => c.serial));
        for (const c of certsB) assert.ok(serialsA.has(c.serial), `restored certificate ${c.serial} was never issued by the original`);
        const serialsB = new Set(certsB.map((c) => c.serial));
        for (const r of beforeBackup) assert.ok(serialsB.has(r.serial), `certificate ${r.serial}, received before the backup began, is missing`);
        const appUris = new Set(appsB.map((a) => a.applicationUri));
        for (const r of beforeBackup) assert.ok(appUris.has(r.applicationUri), `application ${r.applicationUri} is missing`);
        const recordsA = new Map(appsA.map((a) => [a.applicationId, JSON.stringify(a)]));
        for (const a of appsB) assert.equal(JSON.stringify(a), recordsA.get(a.applicationId), `application ${a.applicationUri} differs from the original`);
        assert.deepEqual(usersB.map((u) => u.name).sort(), ["admin", "operator"]);
        // What the restore documents: the revocation made after the backup is undone.
        assert.equal(certsB.find((c) => c.serial === revokedAfter.serial)?.state, "valid");
        assert.ok(auditB.some((a) => a.action === "Restore"), "the restore is audited");

        // CRL numbers keep increasing past every CRL published before the restore.
        const crlB = await publishedCrlNumber(dataB);
        assert.ok(crlB > highestPublished, `CRL number after restore ${crlB} is not above ${highestPublished}`);
        assert.ok(crlB > BigInt(restored.crlNumberFloor));

        // A new issuance on the restored GDS (the admin's password came back with the users) gets a new serial.
        const pki = await tempDir("backup-client");
        const fresh = await withDirectory(server.endpointUrl, dataB, pki, ADMIN, async (d) => {
          const record = serverRecord(`${backend}-after-restore`);
          const id = await d.registerApplication(record);
          const csr = await makeCsr((await testKeyPair()).keys, { uri: record.applicationUri, dns: [`plc${backend}-after-restore.plant1`] });
          const c = new CertificateClient(d);
          const finished = await c.finishRequest(id, await c.startSigningRequest(id, csr));
          return new x509.X509Certificate(new Uint8Array(finished.certificate)).serialNumber.toLowerCase();
        });
        await fs.rm(pki, { recursive: true, force: true });
        const everIssued = new Set([...serialsA, ...received.map((r) => r.serial)]);
        assert.ok(!everIssued.has(fresh), `serial ${fresh} was issued before`);
        await stopServer(server);
        server = undefined;

        // The same backup restores into the other backend.
        const other: Backend = backend === "sqlite" ? "postgres" : "sqlite";
        const dataC = path.join(root, `${backend}-to-${other}`);
        const dbC = await database(other);
        await cliOk(["restore", backupFile, ...target(dataC, dbC)]);
        const certsC = await cliJson<CertJson[]>(["cert", "list", "--json", ...target(dataC, dbC)]);
        const appsC = await cliJson<AppJson[]>(["app", "list", "--json", ...target(dataC, dbC)]);
        assert.deepEqual(certsC.map((c) => c.serial).sort(), [...serialsB].sort());
        assert.deepEqual(appsC.map((a) => a.applicationId).sort(), appsB.filter((a) => !a.applicationUri.includes("after-restore")).map((a) => a.applicationId).sort());
      } finally {
        await load?.stop().catch(() => undefined);
        await killIfRunning(server);
      }
    });
  });
}

describe("restore refuses what it cannot restore whole (built CLI, SQLite and PostgreSQL targets)", () => {
  it("a damaged, truncated or foreign file, a non-empty folder or database, a backup inside the target: non-zero exit, clear message, nothing restored", async () => {
    const dataA = path.join(root, "refusals-a");
    await cliOk(["init", "--data", dataA], { env: { OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD } });
    const good = path.join(root, "refusals.gdsbackup");
    await cliOk(["backup", good, "--data", dataA]);
    assert.equal((await cli(["backup", good, "--data", dataA])).code, 4, "an existing backup file is not replaced without --force");
    await cliOk(["backup", good, "--data", dataA, "--force"]);
    await cliOk(["restore", good, "--check"]);
    const bytes = await fs.readFile(good);

    const damaged = path.join(root, "damaged.gdsbackup");
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(flipped.length / 2)] ^= 0x40;
    await fs.writeFile(damaged, flipped);
    const truncated = path.join(root, "truncated.gdsbackup");
    await fs.writeFile(truncated, bytes.subarray(0, bytes.length - 100));
    const foreign = path.join(root, "foreign.gdsbackup");
    await fs.writeFile(foreign, await fs.readFile(path.join(caFolder(dataA), "ca.cert.pem")));
    const cases: Array<[string, RegExp]> = [
      [damaged, /damaged \(its SHA-256 checksum does not match/],
      [truncated, /damaged \(it is truncated/],
      [foreign, /not an opcua-gds backup/],
      [path.join(root, "missing.gdsbackup"), /cannot read the backup/],
    ];
    for (const [file, message] of cases) {
      const dataX = path.join(root, `refused-${path.basename(file)}`);
      const r = await cli(["restore", file, "--data", dataX]);
      assert.notEqual(r.code, 0, `restore of ${path.basename(file)} succeeded`);
      assert.match(r.stderr, message);
      await assert.rejects(fs.access(dataX), `restore of ${path.basename(file)} left ${dataX} behind`);
      const siblings = (await fs.readdir(root)).filter((n) => n.startsWith(`refused-${path.basename(file)}.`));
      assert.deepEqual(siblings, [], "no temporary folder is left behind");
    }

    // A non-empty folder is replaced only with --force; the backup must not lie inside it.
    const dataB = path.join(root, "refusals-b");
    await cliOk(["restore", good, "--data", dataB]);
    const again = await cli(["restore", good, "--data", dataB]);
    assert.equal(again.code, 4);
    assert.match(again.stderr, /is not empty.*--force/);
    await cliOk(["restore", good, "--data", dataB, "--force"]);
    const inside = path.join(dataB, "inside.gdsbackup");
    await fs.copyFile(good, inside);
    const r = await cli(["restore", inside, "--data", dataB, "--force"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /inside the data folder/);

    // A PostgreSQL database that holds data is replaced only with --force.
    const db = await database("postgres");
    await cliOk(["restore", good, ...target(path.join(root, "refusals-pg1"), db)]);
    const occupied = await cli(["restore", good, ...target(path.join(root, "refusals-pg2"), db)]);
    assert.equal(occupied.code, 4);
    assert.match(occupied.stderr, /target database is not empty/);
    await assert.rejects(fs.access(path.join(root, "refusals-pg2")), "a refused restore writes no folder");
    await cliOk(["restore", good, ...target(path.join(root, "refusals-pg2"), db), "--force"]);
  });
});
