/**
 * CA rollover (issue 5 item 5): `opcua-gds ca renew` run by the built CLI while the GDS runs; both
 * CAs and both CRLs in the trust list during the overlap; UpdateRequired for old-CA certificates
 * and renewal from the new CA through the normal path (ApplicationSelfAdmin over SignAndEncrypt);
 * revocation of an old-CA certificate on the old CA's CRL; the GDS's own certificate moving last
 * and the old CA retiring. Checked with node:crypto and openssl.
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate, type KeyObject } from "node:crypto";
import { writeFileSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { GdsClient } from "../../src/client/index";
import { derToPem } from "../../src/domain/pem";
import { x509 } from "../helpers/certificates";
import { openServices } from "../../src/app";
import { resolveConfig } from "../../src/config/config";
import { DEFAULT_APPLICATION_GROUP } from "../../src/domain/certificate-groups";
import { cli, cliJson, cliOk, killChildren, setCliWorkDir } from "../helpers/cli";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../helpers/databases";
import { makeOfflineRoot, signRequest, type OfflineRoot } from "../helpers/offline-root";
import { ADMIN_PASSWORD, startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { clientRecord } from "../helpers/records";

const GROUP = "DefaultApplicationGroup";
const TYPE = "RsaSha256ApplicationCertificateType";

interface Holder {
  applicationId: string;
  applicationUri: string;
  der: Buffer;
  key: KeyObject;
}

interface RenewJson {
  current: { serialHex: string };
  superseded: { serialHex: string };
  keyReused: boolean;
  check: { retired: unknown[]; ownCertificateRenewed: boolean };
}

interface StatusJson {
  check: { retired: Array<{ serialHex: string; reason: string }>; ownCertificateRenewed: boolean };
  status: Array<{ group: string; current: { serialHex: string }; superseded: Array<{ serialHex: string; certificatesInUse: number; ownCertificate: boolean }> }>;
}

function serialOf(der: Buffer): string {
  return new X509Certificate(der).serialNumber.toLowerCase();
}

/** True when `cert` was signed by `ca` (issuer name and signature). */
function issuedBy(cert: Buffer, ca: Buffer): boolean {
  const c = new X509Certificate(cert);
  const issuer = new X509Certificate(ca);
  return c.checkIssued(issuer) && c.verify(issuer.publicKey);
}

/** openssl verify of `cert` against every CA and CRL of a trust list, with CRL checking. */
function opensslVerifies(dir: string, name: string, cert: Buffer, trust: { trustedCertificates: Buffer[]; trustedCrls: Buffer[] }): { ok: boolean; output: string } {
  const caFile = path.join(dir, `${name}-cas.pem`);
  const crlFile = path.join(dir, `${name}-crls.pem`);
  const certFile = path.join(dir, `${name}.pem`);
  writeFileSync(caFile, trust.trustedCertificates.map((d) => derToPem(d, "CERTIFICATE")).join(""));
  writeFileSync(crlFile, trust.trustedCrls.map((d) => derToPem(d, "X509 CRL")).join(""));
  writeFileSync(certFile, derToPem(cert, "CERTIFICATE"));
  const r = spawnSync("openssl", ["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, certFile], { encoding: "utf8" });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** The serials a DER CRL lists, after checking it was signed by `ca`. */
async function crlOf(crls: Buffer[], ca: Buffer): Promise<string[] | null> {
  const caCert = new x509.X509Certificate(new Uint8Array(ca));
  for (const der of crls) {
    const crl = new x509.X509Crl(new Uint8Array(der));
    if (await crl.verify({ publicKey: caCert.publicKey }).catch(() => false)) return crl.entries.map((e) => e.serialNumber.toLowerCase());
  }
  return null;
}

/** The DER lists of a decoded trust list. */
async function trustListOf(client: GdsClient, applicationId: string): Promise<{ trustedCertificates: Buffer[]; trustedCrls: Buffer[] }> {
  const t = await client.getTrustList(applicationId);
  return { trustedCertificates: t.trustedCertificates.map((c) => c.der), trustedCrls: t.trustedCrls.map((c) => c.der) };
}

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const started = Date.now();
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== null) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() - started > timeoutMs) assert.fail(`${what} did not happen within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

for (const backend of BACKENDS) {
  describe(`CA rollover (${backend})`, { timeout: 600_000 }, () => {
    let gds: TestGds;
    let work: string;
    let oldCa: Buffer;
    let newCa: Buffer;
    let renewed: RenewJson;
    const holders: Record<string, Holder> = {};
    const dataArgs = () => ["--data", gds.dataDir, ...(gds.database.url ? ["--db", gds.database.url] : [])];

    /** A GdsClient as admin that verifies the GDS against `cas`. */
    const asAdmin = (cas: Buffer[]) => GdsClient.connect({ endpointUrl: gds.endpointUrl, gdsTrust: { certificates: cas }, user: { userName: "admin", password: ADMIN_PASSWORD } });
    /** A GdsClient as the application itself (ApplicationSelfAdmin), verifying the GDS against `cas`. */
    const asSelf = (h: Holder, cas: Buffer[]) => GdsClient.connect({ endpointUrl: gds.endpointUrl, gdsTrust: { certificates: cas }, application: { certificate: h.der, privateKey: h.key } });

    before(async () => {
      work = await tempDir("rollover");
      setCliWorkDir(work);
      gds = await startTestGds(backend);
      oldCa = Buffer.from(new x509.X509Certificate(await fs.readFile(gds.caCertificateFile, "utf8")).rawData);
      const admin = await asAdmin([oldCa]);
      try {
        for (const n of ["renewing", "revoked"]) {
          const { record } = await admin.ensureRegistered(clientRecord(`rollover-${n}`));
          const issued = await admin.requestCertificate(record);
          holders[n] = { applicationId: record.applicationId, applicationUri: record.applicationUri, der: issued.certificate.der, key: issued.privateKey };
        }
      } finally {
        await admin.close();
      }
    });

    after(async () => {
      killChildren();
      await gds?.stop();
      if (work) await fs.rm(work, { recursive: true, force: true });
    });

    it("`ca renew` while the server runs makes a new CA with a new key and keeps the old one (key 0600) until it retires", async () => {
      renewed = await cliJson<RenewJson>(["ca", "renew", "--group", GROUP, ...dataArgs(), "--json"]);
      assert.equal(renewed.superseded.serialHex, serialOf(oldCa));
      assert.notEqual(renewed.current.serialHex, renewed.superseded.serialHex);
      assert.equal(renewed.keyReused, false);
      assert.equal(renewed.check.retired.length, 0, "the old CA still has certificates in use");
      newCa = Buffer.from(new x509.X509Certificate(await fs.readFile(gds.caCertificateFile, "utf8")).rawData);
      assert.equal(serialOf(newCa), renewed.current.serialHex);
      assert.ok(!new X509Certificate(newCa).publicKey.equals(new X509Certificate(oldCa).publicKey), "re-keyed by default");
      const previous = path.join(gds.dataDir, "ca", GROUP, TYPE, "previous", renewed.superseded.serialHex);
      assert.equal((await fs.stat(path.join(previous, "ca.key.pem"))).mode & 0o777, 0o600);
      assert.ok(issuedBy(oldCa, await fs.readFile(path.join(previous, "ca.cert.pem")).then((pem) => Buffer.from(new x509.X509Certificate(pem.toString()).rawData))));
    });

    it("GetTrustList (TrustList file object) holds both CAs and both CRLs, each CRL signed by its own CA", async () => {
      // The GDS's own certificate still comes from the old CA: clients that trust only it still connect.
      const admin = await asAdmin([oldCa]);
      try {
        const trust = await trustListOf(admin, holders.renewing.applicationId);
        assert.equal(trust.trustedCertificates.length, 2);
        assert.ok(trust.trustedCertificates.some((c) => c.equals(oldCa)) && trust.trustedCertificates.some((c) => c.equals(newCa)));
        assert.equal(trust.trustedCrls.length, 2);
        assert.deepEqual(await crlOf(trust.trustedCrls, oldCa), []);
        assert.deepEqual(await crlOf(trust.trustedCrls, newCa), []);
        // An old-CA certificate still verifies against the trust list, with CRL checking.
        const verified = opensslVerifies(work, "old-leaf", holders.renewing.der, trust);
        assert.ok(verified.ok, verified.output);
      } finally {
        await admin.close();
      }
    });

    it("the holder of an old-CA certificate gets UpdateRequired and renews as ApplicationSelfAdmin from the new CA", async () => {
      const self = await asSelf(holders.renewing, [oldCa]);
      try {
        assert.equal(await self.getCertificateStatus(holders.renewing.applicationId), true, "old-CA certificate: UpdateRequired");
        const issued = await self.requestCertificate({ applicationId: holders.renewing.applicationId, applicationUri: holders.renewing.applicationUri });
        assert.ok(issuedBy(issued.certificate.der, newCa), "renewed certificate chains to the new CA");
        assert.ok(!issuedBy(issued.certificate.der, oldCa));
        assert.ok(issued.issuerCertificates[0].der.equals(newCa), "FinishRequest hands out the new CA as issuer");
        holders.renewing = { ...holders.renewing, der: issued.certificate.der, key: issued.privateKey };
      } finally {
        await self.close();
      }
      const renewedSelf = await asSelf(holders.renewing, [oldCa]);
      try {
        assert.equal(await renewedSelf.getCertificateStatus(holders.renewing.applicationId), false, "the new-CA certificate needs no update");
      } finally {
        await renewedSelf.close();
      }
    });

    it("revoking an old-CA certificate puts it on the old CA's CRL, signed by the old key", async () => {
      const admin = await asAdmin([oldCa]);
      try {
        await admin.certificates.revokeCertificate(holders.revoked.applicationId, holders.revoked.der);
        const trust = await trustListOf(admin, holders.revoked.applicationId);
        assert.deepEqual(await crlOf(trust.trustedCrls, oldCa), [serialOf(holders.revoked.der)]);
        assert.deepEqual(await crlOf(trust.trustedCrls, newCa), []);
        const verified = opensslVerifies(work, "revoked-leaf", holders.revoked.der, trust);
        assert.ok(!verified.ok && /revoked/i.test(verified.output), verified.output);
      } finally {
        await admin.close();
      }
    });

    it("once old-CA certificates are replaced or revoked, only the GDS's own certificate holds the old CA", async () => {
      const status = await gds.gds.services.rollover.status(Date.now());
      const group = status.find((s) => s.group === GROUP)!;
      const rows = (await gds.gds.services.certificates.listCertificates()).map((r) => `${r.applicationUri} issuer=${r.issuerSerialHex} nb=${r.notBeforeMs} na=${r.notAfterMs} revoked=${r.revokedAtMs}`);
      assert.deepEqual(group.superseded.map((p) => [p.serialHex, p.certificatesInUse, p.ownCertificate]), [[serialOf(oldCa), 0, true]], `only the GDS's own certificate holds the old CA: ${rows.join("; ")}`);
    });

    it("the GDS's own certificate moves to the new CA last, the old CA retires, and a client trusting only the new CA connects", async () => {
      const result = await cliJson<StatusJson>(["ca", "status", ...dataArgs(), "--json"]);
      assert.equal(result.check.ownCertificateRenewed, true);
      assert.deepEqual(result.check.retired.map((r) => [r.serialHex, r.reason]), [[serialOf(oldCa), "no-certificate-in-use"]]);
      assert.deepEqual(result.status.find((s) => s.group === GROUP)!.superseded, []);
      const folder = path.join(gds.dataDir, "ca", GROUP, TYPE);
      await assert.rejects(fs.access(path.join(folder, "previous", serialOf(oldCa))), "the old CA left previous/");
      await assert.rejects(fs.access(path.join(folder, "retired", serialOf(oldCa), "ca.key.pem")), "the retired CA's key is destroyed");
      await fs.access(path.join(folder, "retired", serialOf(oldCa), "ca.cert.pem"));

      // The running server presents its new certificate and drops the old CA (it follows within seconds).
      const trust = await until("the GDS presenting its new-CA certificate", async () => {
        const client = await asAdmin([newCa]);
        try {
          const t = await trustListOf(client, holders.renewing.applicationId);
          return t.trustedCertificates.length === 1 ? t : null;
        } finally {
          await client.close();
        }
      });
      assert.ok(trust.trustedCertificates[0].equals(newCa), "only the new CA is trusted now");
      assert.equal(trust.trustedCrls.length, 1);
      assert.ok((await crlOf(trust.trustedCrls, newCa)) !== null);
      const own = Buffer.from(new x509.X509Certificate((await fs.readFile(path.join(gds.dataDir, "server-pki", "own", "certs", "gds-server.pem"), "utf8")).split(/(?<=-----END CERTIFICATE-----)/)[0]).rawData);
      assert.ok(issuedBy(own, newCa), "the GDS's own certificate comes from the new CA");

      // The renewed application, trusting only the new CA, reaches the GDS as itself.
      const self = await asSelf(holders.renewing, [newCa]);
      try {
        assert.equal(await self.getCertificateStatus(holders.renewing.applicationId), false);
      } finally {
        await self.close();
      }
    });

    it("renew and retirement are audited", async () => {
      const actions = (await gds.gds.services.audit.since(0, 10_000)).map((r) => r.action);
      for (const action of ["CaRenewed", "ServerCertificateRenewed", "CaRetired"]) assert.ok(actions.includes(action), `audit holds ${action}: ${actions.join(",")}`);
    });
  });
}

for (const backend of BACKENDS) {
  describe(`CA rollover of a subordinate CA: ca renew --csr, then ca install (${backend})`, { timeout: 300_000 }, () => {
    let work: string;
    let dataDir: string;
    let database: TestDatabase;
    let root: OfflineRoot;
    let firstSerial: string;
    const dataArgs = () => ["--data", dataDir, ...(database.url ? ["--db", database.url] : [])];
    const folder = () => path.join(dataDir, "ca", GROUP, TYPE);
    const rootPem = () => path.join(work, "root.pem");

    /** The root signs a request written by the GDS; returns the file of the signed CA certificate. */
    async function signed(csrFile: string, name: string): Promise<string> {
      const certificate = await signRequest(root, await fs.readFile(csrFile, "utf8"), true);
      const file = path.join(work, name);
      await fs.writeFile(file, certificate.toString("pem"));
      return file;
    }

    before(async () => {
      work = await tempDir("rollover-sub");
      setCliWorkDir(work);
      dataDir = path.join(work, "data");
      database = await createTestDatabase(backend);
      root = await makeOfflineRoot();
      await fs.writeFile(rootPem(), root.certificate.toString("pem"));
      await cliOk(["init", ...dataArgs()], { env: { OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD } });
      // The GDS becomes a subordinate of the plant's root (the existing ca csr + ca install path).
      // ca csr works on files only: it takes no --db.
      await cliOk(["ca", "csr", "--out", path.join(work, "first.csr"), "--data", dataDir]);
      await cliOk(["ca", "install", await signed(path.join(work, "first.csr"), "first.pem"), "--chain", rootPem(), ...dataArgs()]);
      firstSerial = serialOf(Buffer.from(new x509.X509Certificate(await fs.readFile(path.join(folder(), "ca.cert.pem"), "utf8")).rawData));
    });

    after(async () => {
      killChildren();
      await database?.drop();
      if (work) await fs.rm(work, { recursive: true, force: true });
    });

    it("ca renew without --csr refuses a subordinate CA and says what to do (exit 2)", async () => {
      const r = await cli(["ca", "renew", "--group", GROUP, ...dataArgs()]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /subordinate CA.*ca renew --csr/);
    });

    it("ca renew --csr requests a new key; ca install makes it the next CA while the old one stays trusted", async () => {
      const services = await openServices(resolveConfig({ data: dataDir, db: database.url }, {}));
      let applicationId: string;
      try {
        applicationId = await services.directory.registerApplication("test", clientRecord("subordinate-rollover"));
        const admin = { actor: "test", thumbprint: null, trusted: true, admin: true, self: false };
        const requestId = await services.certificates.startNewKeyPairRequest(admin, applicationId, null, null, "CN=rollover", [], "PEM", "");
        await services.certificates.finishRequest(admin, applicationId, requestId);
      } finally {
        await services.close();
      }

      const csrFile = path.join(work, "next.csr");
      await cliOk(["ca", "renew", "--group", GROUP, "--csr", csrFile, ...dataArgs()]);
      const nextKey = path.join(folder(), "ca.next.key.pem");
      assert.equal((await fs.stat(nextKey)).mode & 0o777, 0o600);
      const installed = await cliJson<{ rolloverFrom: string; kind: string; chainLength: number }>(["ca", "install", await signed(csrFile, "next.pem"), "--chain", rootPem(), ...dataArgs(), "--json"]);
      assert.equal(installed.rolloverFrom, firstSerial);
      assert.equal(installed.kind, "subordinate");
      assert.equal(installed.chainLength, 1);
      await assert.rejects(fs.access(nextKey), "the next key became the CA key");
      assert.equal((await fs.stat(path.join(folder(), "previous", firstSerial, "ca.key.pem"))).mode & 0o777, 0o600);

      const after = await openServices(resolveConfig({ data: dataDir, db: database.url }, {}));
      try {
        const [status] = await after.rollover.status(Date.now());
        assert.notEqual(status.current.serialHex, firstSerial);
        assert.deepEqual(status.superseded.map((p) => [p.serialHex, p.certificatesInUse, p.ownCertificate]), [[firstSerial, 1, true]]);
        const trust = await after.certificates.trustListContent(DEFAULT_APPLICATION_GROUP);
        assert.deepEqual(trust.trustedCertificates.map(serialOf).sort(), [firstSerial, status.current.serialHex].sort());
        assert.deepEqual(trust.issuerCertificates.map(serialOf), [serialOf(Buffer.from(root.certificate.rawData))], "the root once, as issuer");
        assert.equal(trust.trustedCrls.length, 2);
        assert.equal(await after.certificates.getCertificateStatus(applicationId, null, null), true, "the old-CA certificate needs an update");
        const actions = (await after.audit.since(0, 10_000)).map((r) => r.action);
        assert.ok(actions.includes("CaRenewed"), actions.join(","));
      } finally {
        await after.close();
      }
    });
  });
}

for (const backend of BACKENDS) {
  describe(`CA rollover keeping the key: ca renew --reuse-key (${backend})`, { timeout: 300_000 }, () => {
    let dataDir: string;
    let database: TestDatabase;

    before(async () => {
      dataDir = await tempDir("rollover-reuse");
      database = await createTestDatabase(backend);
    });

    after(async () => {
      await database?.drop();
      if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    });

    it("issues a new CA certificate for the same key; both are trusted, each with its CRL, and the renewal is audited", async () => {
      const services = await openServices(resolveConfig({ data: dataDir, db: database.url }, {}));
      try {
        await services.certificates.refreshCrls("test");
        // A certificate of the old CA in use keeps it trusted (with none, it would retire at once).
        const applicationId = await services.directory.registerApplication("test", clientRecord("reuse-key"));
        const admin = { actor: "test", thumbprint: null, trusted: true, admin: true, self: false };
        await services.certificates.finishRequest(admin, applicationId, await services.certificates.startNewKeyPairRequest(admin, applicationId, null, null, "CN=reuse", [], "PEM", ""));
        const report = await services.rollover.renew("test", GROUP, { reuseKey: true });
        assert.deepEqual(report.check.retired, []);
        assert.equal(report.keyReused, true);
        assert.notEqual(report.current.serialHex, report.superseded.serialHex);
        const trust = await services.certificates.trustListContent(DEFAULT_APPLICATION_GROUP);
        const [a, b] = trust.trustedCertificates.map((d) => new X509Certificate(d));
        assert.equal(trust.trustedCertificates.length, 2);
        assert.ok(a.publicKey.equals(b.publicKey), "same key");
        assert.deepEqual([a, b].map((c) => c.serialNumber.toLowerCase()).sort(), [report.current.serialHex, report.superseded.serialHex].sort());
        assert.equal(trust.trustedCrls.length, 2);
        assert.ok((await services.audit.since(0, 1000)).some((r) => r.action === "CaRenewed" && r.details?.includes("key=reused")));
      } finally {
        await services.close();
      }
    });
  });
}

// dist/test/integration -> test-devices (outside dist)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { findSoftHsmLibrary } = require(path.resolve(__dirname, "../../../test-devices/softhsm.js")) as { findSoftHsmLibrary(): string | null };
const softHsm = findSoftHsmLibrary();
const hasPkcs11js = (() => {
  try {
    require.resolve("pkcs11js");
    return true;
  } catch {
    return false;
  }
})();
const tokenSkip = !softHsm ? "SoftHSM2 is not installed" : !hasPkcs11js ? "pkcs11js is not installed" : false;

describe("CA rollover with the CA key in a PKCS#11 token (SoftHSM2)", { skip: tokenSkip, timeout: 600_000 }, () => {
  const pin = `pin-${Date.now().toString(16)}`;
  let work: string;
  let conf: string;

  before(async () => {
    work = await tempDir("rollover-token");
    setCliWorkDir(work);
    await fs.mkdir(path.join(work, "tokens"), { mode: 0o700 });
    conf = path.join(work, "softhsm2.conf");
    await fs.writeFile(conf, `directories.tokendir = ${path.join(work, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    for (const backend of BACKENDS) {
      spawnSync("softhsm2-util", ["--init-token", "--free", "--label", `roll-${backend}`, "--pin", pin, "--so-pin", `so-${pin}`], { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: "ignore" });
    }
  });

  after(async () => {
    killChildren();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  for (const backend of BACKENDS) {
    it(`${backend}: ca renew makes the new key in the token under a label of its own; when nothing else uses the old CA it retires and its key reference goes; no key file appears`, async () => {
      const database = await createTestDatabase(backend);
      const dataDir = path.join(work, `data-${backend}`);
      const env = { SOFTHSM2_CONF: conf, OPCUA_GDS_CA_PKCS11_MODULE: softHsm as string, OPCUA_GDS_CA_PKCS11_TOKEN: `roll-${backend}`, OPCUA_GDS_CA_PKCS11_PIN: pin, OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD };
      const args = ["--data", dataDir, ...(database.url ? ["--db", database.url] : [])];
      try {
        await cliOk(["init", ...args], { env });
        const folder = path.join(dataDir, "ca", GROUP, TYPE);
        const before = JSON.parse(await fs.readFile(path.join(folder, "ca.key.pkcs11.json"), "utf8")) as { label: string };
        const report = await cliJson<RenewJson>(["ca", "renew", "--group", GROUP, ...args, "--json"], { env });
        const after = JSON.parse(await fs.readFile(path.join(folder, "ca.key.pkcs11.json"), "utf8")) as { label: string };
        assert.notEqual(after.label, before.label, "a new key, labelled apart from the old one");
        const ca = new X509Certificate(await fs.readFile(path.join(folder, "ca.cert.pem")));
        assert.ok(ca.verify(ca.publicKey), "the new CA certificate is signed by its new token key");
        assert.equal(ca.serialNumber.toLowerCase(), report.current.serialHex);
        // Nothing but the GDS's own certificate used the old CA: it moved at once and the old CA retired.
        assert.equal(report.check.ownCertificateRenewed, true);
        assert.deepEqual((report.check.retired as Array<{ serialHex: string }>).map((r) => r.serialHex), [report.superseded.serialHex]);
        const retired = path.join(folder, "retired", report.superseded.serialHex);
        await fs.access(path.join(retired, "ca.cert.pem"));
        await assert.rejects(fs.access(path.join(retired, "ca.key.pkcs11.json")), "the retired CA's key reference is gone");
        const keyFiles = (await fs.readdir(folder, { recursive: true })).filter((f) => String(f).endsWith(".key.pem"));
        assert.deepEqual(keyFiles, [], "no CA key file beside the token keys");
      } finally {
        await database.drop();
      }
    });
  }
});
