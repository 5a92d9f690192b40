/**
 * provision(), readPkiStore(), recoverPkiStore() and acquireStoreLock() on real folders, with a
 * real CA: the layout OPC UA stacks read, file modes, what node-opcua's certificate manager makes of
 * the store, atomic rewrites, recovery after an interrupted swap, and the lock of one writer.
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, createPrivateKey } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { OPCUACertificateManager } from "node-opcua";
import { CertificateAuthority } from "../../src/ca/certificate-authority";
import { PKI_STORE_FILES, acquireStoreLock, createSelfSignedCertificate, generateApplicationKey, provision, readPkiStore, recoverPkiStore, type PkiMaterial } from "../../src/client/index";
import { systemClock } from "../../src/domain/clock";
import { testKeyPair } from "../helpers/certificates";
import { tempDir } from "../helpers/gds-fixture";

interface Issued {
  der: Buffer;
  keyPem: string;
  serialHex: string;
}

let root: string;
let ca: CertificateAuthority;
let caDer: Buffer;

async function issue(uri: string): Promise<Issued> {
  const { keys, privateKeyPem } = await testKeyPair();
  const cert = await ca.issueApplicationCertificate(keys.publicKey, { subject: `CN=${uri}`, applicationUri: uri, dnsNames: ["localhost"], ipAddresses: [], lifetimeDays: 30, backdateSeconds: 60 });
  return { der: Buffer.from(cert.rawData), keyPem: privateKeyPem, serialHex: cert.serialNumber.toLowerCase() };
}

async function crl(revoked: string[], crlNumber: number): Promise<Buffer> {
  const now = Date.now();
  return Buffer.from((await ca.signCrl(revoked.map((serialHex) => ({ serialHex, revokedAtMs: now })), crlNumber, now, now + 86400_000)).rawData);
}

function material(app: Issued, crlDer: Buffer): PkiMaterial {
  return { certificate: app.der, privateKey: app.keyPem, issuerCertificates: [caDer], trustList: { trustedCertificates: [caDer], trustedCrls: [crlDer], issuerCertificates: [], issuerCrls: [] } };
}

/** Every file of a folder with its content, for before/after comparisons. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const full = path.join(entry.parentPath, entry.name);
      out[path.relative(dir, full)] = (await fs.readFile(full)).toString("base64");
    }
  }
  return out;
}

async function mode(file: string): Promise<number> {
  return (await fs.stat(file)).mode & 0o777;
}

describe("PKI store: provision, read back, recover, lock", () => {
  let app: Issued;
  let other: Issued;
  before(async () => {
    root = await tempDir("pki-store");
    ca = await CertificateAuthority.loadOrCreate(path.join(root, "ca"), { subject: "CN=Store Test CA", keySize: 2048, lifetimeDays: 365 }, systemClock);
    caDer = Buffer.from(ca.certificate.rawData);
    app = await issue("urn:test:store:server");
    other = await issue("urn:test:store:client");
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it("writes an absent folder in the OPC 10000-12 Annex F layout, keys 0600 in a 0700 folder; node-opcua's certificate manager uses its key and trusts exactly what the CA issued", async () => {
    const store = path.join(root, "fresh", "pki");
    const firstCrl = await crl([], 1);
    const result = await provision(store, material(app, firstCrl));
    assert.equal(result.changed, true);
    const files = Object.keys(await snapshot(store)).sort();
    const thumb = (d: Buffer) => createHash("sha1").update(d).digest("hex");
    assert.deepEqual(files, [
      PKI_STORE_FILES.manifest,
      PKI_STORE_FILES.certificateDer,
      PKI_STORE_FILES.certificatePem,
      PKI_STORE_FILES.privateKeyByCertificateName,
      PKI_STORE_FILES.privateKey,
      `trusted/certs/${thumb(caDer)}.der`,
      `trusted/crl/${thumb(firstCrl)}.crl`,
    ].sort());
    for (const sub of ["issuers/certs", "issuers/crl"]) assert.ok((await fs.stat(path.join(store, sub))).isDirectory(), `${sub} exists (empty)`);
    assert.equal(await mode(path.join(store, PKI_STORE_FILES.privateKey)), 0o600);
    assert.equal(await mode(path.join(store, PKI_STORE_FILES.privateKeyByCertificateName)), 0o600);
    assert.equal(await mode(path.join(store, "own", "private")), 0o700);
    assert.deepEqual(await fs.readFile(path.join(store, PKI_STORE_FILES.certificateDer)), app.der);
    assert.match(await fs.readFile(path.join(store, PKI_STORE_FILES.certificatePem), "utf8"), /^-----BEGIN CERTIFICATE-----/);
    const back = await readPkiStore(store);
    assert.equal(back.certificate?.applicationUri, "urn:test:store:server");
    assert.equal(back.manifest?.certificate.serialNumber, app.serialHex);
    assert.ok(back.privateKey?.equals(createPrivateKey(app.keyPem)));

    const keyBefore = await fs.readFile(path.join(store, PKI_STORE_FILES.privateKey));
    const manager = new OPCUACertificateManager({ rootFolder: store, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
    await manager.initialize();
    try {
      assert.deepEqual(await fs.readFile(path.join(store, PKI_STORE_FILES.privateKey)), keyBefore, "node-opcua finds its key and makes none");
      // checkCertificate is what node-opcua's server and client call on a peer's certificate.
      assert.equal((await manager.checkCertificate(other.der)).name, "Good", "a certificate the CA issued is trusted");
      assert.equal((await manager.checkCertificate(await issueSelfSigned())).name, "BadCertificateUntrusted");
    } finally {
      await manager.dispose();
    }
  });

  it("an unchanged store is not rewritten, a new CRL is; rejected/ is carried over; a key that does not belong to the certificate is refused before anything is written", async () => {
    const store = path.join(root, "rewrite");
    await provision(store, material(app, await crl([], 1)));
    await fs.mkdir(path.join(store, "rejected"));
    await fs.writeFile(path.join(store, "rejected", "someone.der"), "x");
    const inode = (await fs.stat(store)).ino;
    assert.equal((await provision(store, material(app, await readPkiStore(store).then((s) => s.trustedCrls[0])))).changed, false);
    assert.equal((await fs.stat(store)).ino, inode, "the very same folder");

    const revokedCrl = await crl([other.serialHex], 2);
    const result = await provision(store, material(app, revokedCrl));
    assert.equal(result.changed, true);
    assert.notEqual((await fs.stat(store)).ino, inode, "a new folder renamed into place");
    assert.deepEqual((await readPkiStore(store)).trustedCrls, [revokedCrl]);
    assert.equal(await fs.readFile(path.join(store, "rejected", "someone.der"), "utf8"), "x", "rejected/ carried over");
    const manager = new OPCUACertificateManager({ rootFolder: store, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
    await manager.initialize();
    try {
      assert.equal((await manager.checkCertificate(other.der)).name, "BadCertificateRevoked", "the new CRL is in force");
    } finally {
      await manager.dispose();
    }

    const before = await snapshot(store);
    await assert.rejects(provision(store, { ...material(app, revokedCrl), privateKey: other.keyPem }), /does not belong to the certificate/);
    assert.deepEqual(await snapshot(store), before);
  });

  it("a failing beforeSwap keeps the previous store; a swap interrupted between its renames is put back; staged leftovers of dead processes are removed", async () => {
    const store = path.join(root, "interrupted");
    await provision(store, material(app, await crl([], 1)));
    const before = await snapshot(store);
    let staged = "";
    await assert.rejects(
      provision(store, material(app, await crl([other.serialHex], 2)), {
        beforeSwap: async (folder) => {
          staged = folder;
          assert.deepEqual((await readPkiStore(folder)).trustedCrls.length, 1, "the staged store is complete when the check runs");
          throw new Error("the new store does not load");
        },
      }),
      /does not load/,
    );
    assert.deepEqual(await snapshot(store), before, "previous store untouched");
    await assert.rejects(fs.stat(staged), "staged folder removed");

    // A process that died between the two renames: the store is absent, the previous one aside.
    await fs.rename(store, `${store}.previous`);
    const deadPid = spawnSync(process.execPath, ["-e", ""]).pid!;
    await fs.mkdir(`${store}.new-${deadPid}-x1`);
    await fs.writeFile(`${store}.new-${deadPid}-x1`.concat("/half-written"), "?");
    const repairs = await recoverPkiStore(store);
    assert.equal(repairs.length, 2, repairs.join("\n"));
    assert.deepEqual(await snapshot(store), before, "the previous store is back");
    assert.deepEqual((await fs.readdir(path.dirname(store))).filter((n) => n.startsWith("interrupted.")), []);
  });

  it("acquireStoreLock: a live holder is refused and named, a dead holder's lock is taken over, release removes only its own lock", async () => {
    const file = path.join(root, "locks", "agent.lock");
    const lock = await acquireStoreLock(file, "the store x");
    assert.equal(lock.tookOver, null);
    const child = spawnSync(process.execPath, ["-e", `require("${require.resolve("../../src/client/store-lock").replace(/\\/g, "/")}").acquireStoreLock(${JSON.stringify(file)}, "the store x").then(() => process.exit(0), (e) => { console.log(e.message); process.exit(3); })`], { encoding: "utf8" });
    assert.equal(child.status, 3, child.stderr);
    assert.match(child.stdout, new RegExp(`the store x is locked by process ${process.pid} on ${os.hostname()}.*only one agent may write a store`));
    await lock.release();
    await assert.rejects(fs.stat(file));

    const deadPid = spawnSync(process.execPath, ["-e", ""]).pid!;
    await fs.writeFile(file, JSON.stringify({ pid: deadPid, hostname: os.hostname(), startedAt: "2020-01-01T00:00:00Z" }));
    const taken = await acquireStoreLock(file, "the store x");
    assert.equal(taken.tookOver?.pid, deadPid);
    assert.equal(JSON.parse(await fs.readFile(file, "utf8")).pid, process.pid);
    await fs.writeFile(file, JSON.stringify({ pid: 1, hostname: os.hostname(), startedAt: "2020-01-01T00:00:00Z" }));
    await taken.release();
    assert.equal(JSON.parse(await fs.readFile(file, "utf8")).pid, 1, "someone else's lock stays");
  });
});

/** A self-signed application certificate of nobody the CA knows. */
async function issueSelfSigned(): Promise<Buffer> {
  return createSelfSignedCertificate(await generateApplicationKey(), { applicationUri: "urn:stranger", subject: "CN=stranger", hostNames: ["localhost"] });
}
