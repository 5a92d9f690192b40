import "reflect-metadata";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { IssuedCertificateRow, StoredRequest } from "../../src/services/ports";
import { randomUUID } from "node:crypto";
import { compileLikePattern } from "../../src/domain/like-pattern";
import { ApplicationRepository, toColumns } from "../../src/store/application-repository";
import { CertificateRepository } from "../../src/store/certificate-repository";
import { openDatabase, type Database } from "../../src/store/database";
import { ApplicationEntity } from "../../src/store/entities/application-entity";
import { AuditRecordEntity } from "../../src/store/entities/audit-record-entity";
import { BACKENDS, createTestDatabase, type Backend, type TestDatabase } from "../helpers/databases";
import { tempDir } from "../helpers/gds-fixture";
import { serverRecord } from "../helpers/records";

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

/** A CertificateRepository on a fresh database of `backend` for the suite it is called in; dropped after it. */
function storeForSuite(backend: Backend, name: string): { db: () => Database; store: () => CertificateRepository } {
  let database: TestDatabase;
  let dir: string;
  let db: Database;
  let store: CertificateRepository;
  before(async () => {
    database = await createTestDatabase(backend);
    dir = await tempDir(name);
    db = await openDatabase({ url: database.url, sqlitePath: path.join(dir, "gds.sqlite") });
    store = new CertificateRepository(db, clock);
  });
  after(async () => {
    await db?.close();
    await database?.drop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  return { db: () => db, store: () => store };
}

for (const backend of BACKENDS) {
  describe(`plain-SQL issuance path of the store (${backend})`, () => {
    const suite = storeForSuite(backend, "store-sql");
    let db: Database;
    let store: CertificateRepository;
    before(() => {
      db = suite.db();
      store = suite.store();
    });
    const auditCount = () => db.dataSource.manager.count(AuditRecordEntity);

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

/**
 * Renewal planning reads current certificates only: an issuance supersedes the application's
 * earlier certificates of its group and type in the same unit, and the migration marks the
 * certificates that were already replaced.
 */
for (const backend of BACKENDS) {
  describe(`renewal planning over current certificates (${backend})`, () => {
    const NOW = 1_770_000_000_000;
    const DAY = 86_400_000;
    const CA = "0102";
    const suite = storeForSuite(backend, "store-planning");
    let db: Database;
    let store: CertificateRepository;
    before(() => {
      db = suite.db();
      store = suite.store();
    });
    let n = 0;
    const app = (i: number) => `5c0f6a2e-0000-4000-8000-${String(i).padStart(12, "0")}`;

    /** Issues a certificate to application `i` through the issuance path; `renewalInDays` < 0: already due. */
    async function issue(i: number, o: { renewalInDays: number; notAfterInDays?: number; issuer?: string }): Promise<string> {
      n++;
      const requestId = `00000000-0000-4000-9000-${String(n).padStart(12, "0")}`;
      const serialHex = `5e${String(n).padStart(4, "0")}`;
      await store.insertRequest(request(requestId, { applicationId: app(i) }), audit("StartSigningRequest"));
      await store.approveAndIssue(requestId, "auto", NOW, {
        ...certificate(requestId, serialHex, n.toString(16).padStart(40, "0")),
        applicationId: app(i),
        issuerSerialHex: o.issuer ?? CA,
        notBeforeMs: NOW - 300 * DAY + n,
        notAfterMs: NOW + (o.notAfterInDays ?? 60) * DAY,
        renewalAtMs: NOW + o.renewalInDays * DAY,
      }, audit("CertificateIssued"));
      return serialHex;
    }
    const superseded = async () =>
      new Map(
        (await db.dataSource.query("SELECT serial, superseded FROM issued_certificates")).map((r: { serial: string; superseded: unknown }) => [r.serial, Boolean(r.superseded)]),
      );
    const due = async () => (await store.dueForRenewal("DefaultApplicationGroup", "RsaSha256ApplicationCertificateType", CA, NOW)).sort();

    it("due: renewal time passed, revoked, or signed by another CA; not: replaced, fresh, or expired", async () => {
      const replaced = await issue(1, { renewalInDays: -10 });
      const current = await issue(1, { renewalInDays: 100 });
      await issue(2, { renewalInDays: -1 });
      const revoked = await issue(3, { renewalInDays: 100 });
      await issue(4, { renewalInDays: 100, issuer: "0a" });
      await issue(5, { renewalInDays: 100, issuer: "ff" });
      await issue(6, { renewalInDays: -100, notAfterInDays: -1 });
      await issue(7, { renewalInDays: 100 });
      const marks = await superseded();
      assert.equal(marks.get(replaced), true, "the issuance of a newer certificate superseded the older one");
      assert.equal(marks.get(current), false);
      assert.equal([...marks.values()].filter(Boolean).length, 1, "nothing else was superseded");
      assert.deepEqual(await due(), [app(2), app(4), app(5)]);
      await db.dataSource.query(`UPDATE issued_certificates SET revoked_at = ${NOW - DAY} WHERE serial = '${revoked}'`);
      assert.deepEqual(await due(), [app(2), app(3), app(4), app(5)]);
      // A renewal of a due application takes it off the plan.
      await issue(2, { renewalInDays: 100 });
      assert.deepEqual(await due(), [app(3), app(4), app(5)]);
    });

    it("an issuance that does not happen (a second approval of a request) supersedes nothing", async () => {
      const before = await superseded();
      const requestId = "00000000-0000-4000-9000-000000000001";
      await assert.rejects(store.approveAndIssue(requestId, "again", NOW, { ...certificate(requestId, "5eff01", "ee".repeat(20)), applicationId: app(7) }, audit("CertificateIssued")), { kind: "Conflict" });
      assert.deepEqual(await superseded(), before);
    });

    it("the migration marks certificates already replaced when it adds the planning column", async () => {
      const columns = async () => (await db.dataSource.query(backend === "postgres" ? "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'issued_certificates'" : "PRAGMA table_info(issued_certificates)")).map((c: { name: string }) => c.name);
      // Back to before the planning migration (later migrations are undone first).
      for (let undone = 0; (await columns()).includes("superseded") && undone < 10; undone++) await db.dataSource.undoLastMigration();
      assert.ok(!(await columns()).includes("superseded"), "the planning migration was undone");
      await db.dataSource.runMigrations();
      const marks = await superseded();
      assert.equal([...marks.values()].filter(Boolean).length, 2, "the two replaced certificates (applications 1 and 2), nothing else");
      assert.deepEqual(await due(), [app(3), app(4), app(5)]);
    });
  });
}

for (const backend of BACKENDS) {
  describe(`application names: a pattern with a literal prefix is an index range (${backend})`, () => {
    const suite = storeForSuite(backend, "store-names");
    const COUNT = 4000;
    let db: Database;
    let applications: ApplicationRepository;
    before(async () => {
      db = suite.db();
      applications = new ApplicationRepository(db, clock);
      // serverRecord(n) is named "PLC n"; every tenth is renamed so that the prefix meets other names too.
      for (let first = 1; first <= COUNT; first += 500) {
        const rows: Partial<ApplicationEntity>[] = [];
        for (let n = first; n < first + 500; n++) {
          const fields = n % 10 === 0 ? serverRecord(n, { applicationNames: [{ locale: "en", text: `plc ${n} (lower case)` }] }) : serverRecord(n);
          rows.push({ ...toColumns(fields), id: randomUUID(), recordId: n, createdAtMs: 1, updatedAtMs: 1 });
        }
        await db.dataSource.manager.insert(ApplicationEntity, rows);
      }
      // PostgreSQL's autovacuum would gather statistics by itself, later; SQLite runs without them (see the migration).
      if (backend === "postgres") await db.dataSource.query("ANALYZE applications");
    });

    const names = async (pattern: string, afterRecordId = 0) => {
      const found: string[] = [];
      for await (const record of applications.scan({ afterRecordId, name: compileLikePattern(pattern), capabilities: [], types: null }, 100)) found.push(record.applicationNames[0].text);
      return found;
    };

    it("a prefix finds exactly its records, in record order, case-sensitively; paging goes on after the last record id", async () => {
      const expected = Array.from({ length: COUNT }, (_, i) => i + 1)
        .filter((n) => n % 10 !== 0 && String(n).startsWith("12"))
        .map((n) => serverRecord(n).applicationNames[0].text);
      assert.deepEqual(await names("PLC 12%"), expected);
      assert.deepEqual(await names("plc 12%"), ["plc 120 (lower case)", "plc 1200 (lower case)", "plc 1210 (lower case)", "plc 1220 (lower case)", "plc 1230 (lower case)", "plc 1240 (lower case)", "plc 1250 (lower case)", "plc 1260 (lower case)", "plc 1270 (lower case)", "plc 1280 (lower case)", "plc 1290 (lower case)"]);
      assert.deepEqual(await names("PLC 12%", 1200), expected.filter((n) => Number(n.slice(4)) > 1200));
      assert.deepEqual(await names("PLC 1\\%"), [], "an escaped wildcard is a literal character");
      assert.equal((await names("%(lower case)")).length, COUNT / 10, "a pattern without a prefix still finds every match");
    });

    it("the database reads a narrow prefix through the name index (the plan of the query scan sends)", async () => {
      const [sql, parameters] = applications.scanBatchQuery({ afterRecordId: 0, name: compileLikePattern("PLC 123%"), capabilities: [], types: null }, 0, 100).getQueryAndParameters();
      const plan = await db.dataSource.query(`${backend === "postgres" ? "EXPLAIN" : "EXPLAIN QUERY PLAN"} ${sql}`, parameters);
      const text = (plan as Array<Record<string, string>>).map((row) => Object.values(row).join(" ")).join("\n");
      assert.match(text, /ix_applications_default_name/, text);
    });
  });
}
