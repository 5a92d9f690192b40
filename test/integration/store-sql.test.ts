import "reflect-metadata";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { IssuedCertificateRow, StoredRequest } from "../../src/services/ports";
import { CertificateRepository } from "../../src/store/certificate-repository";
import { openDatabase, type Database } from "../../src/store/database";
import { AuditRecordEntity } from "../../src/store/entities/audit-record-entity";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../helpers/databases";
import { tempDir } from "../helpers/gds-fixture";

const clock = { nowMs: () => 1_764_000_000_000 };

function request(id: string, overrides: Partial<StoredRequest> = {}): StoredRequest {
  return {
    requestId: id,
    applicationId: "5c0f6a2e-0000-4000-8000-000000000001",
    groupName: "DefaultApplicationGroup",
    certificateTypeName: "RsaSha256ApplicationCertificateType",
    kind: "SigningRequest",
    state: "New",
    requestedBy: "admin",
    requesterThumbprint: "ab".repeat(20),
    createdAtMs: 1_764_000_000_000,
    decidedBy: null,
    decidedAtMs: null,
    rejectReason: null,
    serialHex: null,
    subjectName: "CN=PLC 4, O=Plant 1",
    domainNames: ["plc4.plant1.example", "10.1.4.20"],
    privateKeyFormat: null,
    csrDer: Buffer.from("3082", "hex"),
    sealedPrivateKey: null,
    sealedKeyPassword: null,
    ...overrides,
  };
}

function certificate(requestId: string, serialHex: string, thumbprint: string): IssuedCertificateRow {
  return {
    serialHex,
    thumbprint,
    applicationId: "5c0f6a2e-0000-4000-8000-000000000001",
    applicationUri: "urn:plant1:line4:plc",
    groupName: "DefaultApplicationGroup",
    certificateTypeName: "RsaSha256ApplicationCertificateType",
    issuerSerialHex: "0102",
    requestId,
    notBeforeMs: 1_764_000_000_000,
    notAfterMs: 1_795_536_000_000,
    renewalAtMs: 1_785_024_000_000,
    revokedAtMs: null,
    revocationReason: null,
    der: Buffer.from("30820102", "hex"),
  };
}

const audit = (action: string) => ({ actor: "admin", action, subject: "s", outcome: "Good", details: "d" });

for (const backend of BACKENDS) {
  describe(`plain-SQL issuance path of the store (${backend})`, () => {
    let database: TestDatabase;
    let dir: string;
    let db: Database;
    let store: CertificateRepository;
    const auditCount = () => db.dataSource.manager.count(AuditRecordEntity);

    before(async () => {
      database = await createTestDatabase(backend);
      dir = await tempDir("store-sql");
      db = await openDatabase({ url: database.url, sqlitePath: path.join(dir, "gds.sqlite") });
      store = new CertificateRepository(db, clock);
    });
    after(async () => {
      await db?.close();
      await database?.drop();
      await fs.rm(dir, { recursive: true, force: true });
    });

    it("a request reads back as written, with its audit record", async () => {
      const before = await auditCount();
      await store.insertRequest(request("00000000-0000-4000-8000-000000000001"), audit("StartSigningRequest"));
      const got = await store.getRequest("00000000-0000-4000-8000-000000000001");
      assert.deepEqual(got, request("00000000-0000-4000-8000-000000000001"));
      assert.equal(await auditCount(), before + 1);
      assert.deepEqual(await store.requestWithCertificate("00000000-0000-4000-8000-000000000001"), { request: got, certificate: null });
      assert.equal(await store.requestWithCertificate("00000000-0000-4000-8000-0000000000ff"), null);
    });

    it("approveAndIssue writes the certificate, the decision and the audit record together; a second approval changes nothing", async () => {
      const id = "00000000-0000-4000-8000-000000000002";
      await store.insertRequest(request(id), audit("StartSigningRequest"));
      const before = await auditCount();
      const row = certificate(id, "7a01", "cd".repeat(20));
      await store.approveAndIssue(id, "auto (admin)", 1_764_000_000_500, row, audit("CertificateIssued"));
      const found = await store.requestWithCertificate(id);
      assert.equal(found?.request.state, "Approved");
      assert.equal(found?.request.serialHex, "7a01");
      assert.equal(found?.request.decidedAtMs, 1_764_000_000_500);
      assert.deepEqual(found?.certificate, row);
      assert.deepEqual(await store.certificateByThumbprint("CD".repeat(20)), row);
      assert.equal(await auditCount(), before + 1);

      await assert.rejects(store.approveAndIssue(id, "again", 1, certificate(id, "7a02", "ef".repeat(20)), audit("CertificateIssued")), { kind: "Conflict" });
      await assert.rejects(store.approveAndIssue("00000000-0000-4000-8000-0000000000fe", "x", 1, certificate(id, "7a03", "12".repeat(20)), audit("x")), { kind: "NotFound" });
      assert.equal(await store.certificate("7a02"), null);
      assert.equal(await auditCount(), before + 1);
    });

    it("a change whose following insert fails leaves nothing behind (one unit)", async () => {
      const id = "00000000-0000-4000-8000-000000000003";
      await store.insertRequest(request(id), audit("StartSigningRequest"));
      const before = await auditCount();
      // The thumbprint of the certificate issued above: the unique index refuses the insert.
      await assert.rejects(store.approveAndIssue(id, "auto", 1, certificate(id, "7a04", "cd".repeat(20)), audit("CertificateIssued")));
      assert.equal((await store.getRequest(id))?.state, "New");
      assert.equal(await store.certificate("7a04"), null);
      assert.equal(await auditCount(), before);
    });

    it("markAccepted accepts an Approved request once, wiping the delivery password (the sealed key stays for export until revocation)", async () => {
      const id = "00000000-0000-4000-8000-000000000004";
      await store.insertRequest(request(id, { kind: "NewKeyPair", csrDer: null, privateKeyFormat: "PEM", sealedPrivateKey: "sealed", sealedKeyPassword: "pw" }), audit("StartNewKeyPairRequest"));
      await assert.rejects(store.markAccepted(id, audit("CertificateDelivered")), /is New, not Approved/);
      await store.approveAndIssue(id, "auto", 2, certificate(id, "7a05", "34".repeat(20)), audit("CertificateIssued"));
      const before = await auditCount();
      await store.markAccepted(id, audit("CertificateDelivered"));
      const accepted = await store.getRequest(id);
      assert.deepEqual([accepted?.state, accepted?.sealedPrivateKey, accepted?.sealedKeyPassword], ["Accepted", "sealed", null]);
      assert.equal(await auditCount(), before + 1);
      await assert.rejects(store.markAccepted(id, audit("CertificateDelivered")), /is Accepted, not Approved/);
      await assert.rejects(store.markAccepted("00000000-0000-4000-8000-0000000000fd", audit("x")), { kind: "NotFound" });
      assert.equal(await auditCount(), before + 1);
    });
  });
}
