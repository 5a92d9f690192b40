/**
 * End-to-end tests of the certificate commands of the built `opcua-gds` CLI (request, app approve,
 * cert, audit) while `opcua-gds start --approval manual` runs in a child process on SQLite, with a
 * real node-opcua client (SignAndEncrypt, user `admin`) making and collecting the requests.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { StatusCodes, type StatusCode } from "node-opcua";
import { CertificateClient, type DirectoryClient, type FinishedCertificate } from "../../src/client/directory-client";
import { readTrustList } from "../../src/client/trust-list-reader";
import { inspectCertificate, makeCsr, testKeyPair } from "../helpers/certificates";
import { CLI, cli, cliJson, cliOk, killChildren, killIfRunning, setCliWorkDir, startServer, stopServer, withDirectory, type CliResult, type RunningServer } from "../helpers/cli";
import { serverRecord } from "../helpers/records";
import { withStatus } from "../helpers/status";

const ADMIN_PASSWORD = "admin-e2e-certificates-password";
/** The operating-system user the CLI processes run as (USER), so their audit actor is known. */
const OPERATOR = "e2e-operator";
const CLI_ACTOR = `cli:${OPERATOR}`;
/** Password of a new-key-pair request's private key: must never show up in any output. */
const KEY_PASSWORD = "nkp-key-password-e2e";

interface RequestJson {
  requestId: string;
  applicationId: string;
  kind: string;
  state: string;
  requestedBy: string;
  decidedBy: string | null;
  rejectReason: string | null;
  serial: string | null;
  [key: string]: unknown;
}

interface CertJson {
  serial: string;
  applicationId: string;
  applicationUri: string;
  state: string;
  revokedAt: string | null;
  [key: string]: unknown;
}

interface ApproveResultJson {
  requestId: string;
  applicationUri: string;
  serialHex?: string;
  error?: string;
}

interface AuditJson {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  outcome: string;
  details?: string;
}

/** A certificate the client collected with FinishRequest. */
interface Issued {
  applicationId: string;
  applicationUri: string;
  serial: string;
  der: Buffer;
}

let root: string;
let dataDir: string;
let pkiRoot: string;
let server: RunningServer | undefined;
let keys: CryptoKeyPair;
/** Every CLI command this file ran and its output, for the check that no secret is ever printed. */
const outputs: Array<{ args: string[] } & CliResult> = [];
/** Certificates issued (and collected) by the tests, in order. */
const issued: Issued[] = [];

/** Runs a CLI command on the test's data folder as OPERATOR; any exit code. */
async function gds(args: string[]): Promise<CliResult> {
  const r = await cli([...args, "--data", dataDir], { env: { USER: OPERATOR } });
  outputs.push({ args, ...r });
  return r;
}

/** Runs a CLI command that must succeed. */
async function gdsOk(args: string[]): Promise<CliResult> {
  const r = await cliOk([...args, "--data", dataDir], { env: { USER: OPERATOR } });
  outputs.push({ args, ...r });
  return r;
}

/** Runs a `--json` CLI command that must succeed and print pure JSON. */
async function gdsJson<T>(args: string[]): Promise<T> {
  const full = [...args, "--json", "--data", dataDir];
  const value = await cliJson<T>(full, { env: { USER: OPERATOR } });
  outputs.push({ args: full, code: 0, stdout: JSON.stringify(value), stderr: "" });
  return value;
}

/** A command that must fail: non-zero exit code and a message on stderr. */
async function gdsFails(args: string[]): Promise<CliResult> {
  const r = await gds(args);
  assert.notEqual(r.code, 0, `opcua-gds ${args.join(" ")} succeeded\nstdout: ${r.stdout}`);
  assert.match(r.stderr, /\S/, `opcua-gds ${args.join(" ")} failed without a message`);
  return r;
}

/** A SignAndEncrypt session as admin on the running server. */
function asAdmin<T>(work: (d: DirectoryClient, c: CertificateClient) => Promise<T>): Promise<T> {
  assert.ok(server, "the server is not running");
  return withDirectory(server.endpointUrl, dataDir, pkiRoot, { userName: "admin", password: ADMIN_PASSWORD }, (d) => work(d, new CertificateClient(d)));
}

/** The GUID of a NodeId string `ns=1;g=<GUID>` (RequestId, ApplicationId), lower case. */
function guidOf(nodeId: string): string {
  const m = /g=([0-9a-f-]{36})$/i.exec(nodeId);
  assert.ok(m, `${nodeId} is not a GUID NodeId`);
  return m[1].toLowerCase();
}

function sameId(a: string, b: string): boolean {
  return guidOf(a.includes("g=") ? a : `g=${a}`) === guidOf(b.includes("g=") ? b : `g=${b}`);
}

/** Serial numbers compared as numbers (leading zeros, case and colons do not matter). */
function serialValue(hex: string): bigint {
  return BigInt(`0x${hex.replace(/:/g, "")}`);
}

/** Registers an application (serverRecord `name`, optionally another ApplicationUri). */
async function register(d: DirectoryClient, name: string, applicationUri?: string): Promise<{ id: string; uri: string }> {
  const record = serverRecord(name, applicationUri ? { applicationUri } : {});
  return { id: await d.registerApplication(record), uri: record.applicationUri };
}

/** StartSigningRequest with a CSR that carries the application's URI; returns the RequestId NodeId string. */
async function startSigning(c: CertificateClient, app: { id: string; uri: string }): Promise<string> {
  return c.startSigningRequest(app.id, await makeCsr(keys, { uri: app.uri }));
}

/** FinishRequest that must deliver a certificate for `app`; remembers it in `issued`. */
async function collect(c: CertificateClient, app: { id: string; uri: string }, requestId: string): Promise<FinishedCertificate & { serial: string }> {
  const done = await c.finishRequest(app.id, requestId);
  const cert = inspectCertificate(done.certificate);
  assert.deepEqual(cert.uris, [app.uri], "the SAN URI of the issued certificate is the application's");
  issued.push({ applicationId: app.id, applicationUri: app.uri, serial: cert.serialHex, der: done.certificate });
  return { ...done, serial: cert.serialHex };
}

async function pending(): Promise<RequestJson[]> {
  return gdsJson<RequestJson[]>(["request", "list", "--pending"]);
}

async function requestRow(requestId: string): Promise<RequestJson> {
  const all = await gdsJson<RequestJson[]>(["request", "list"]);
  const row = all.find((r) => sameId(r.requestId, requestId));
  assert.ok(row, `request ${requestId} is not in request list --json:\n${JSON.stringify(all, null, 2)}`);
  return row;
}

function assertStatus(actual: StatusCode, expected: StatusCode, what: string): void {
  assert.equal(actual.value, expected.value, `${what}: expected ${expected.toString()}, got ${actual.toString()}`);
}

/** `openssl crl -inform DER -text` of a CRL. */
function crlText(der: Buffer): string {
  const r = spawnSync("openssl", ["crl", "-inform", "DER", "-noout", "-text"], { input: der });
  assert.equal(r.status, 0, `openssl crl failed: ${r.stderr?.toString()}`);
  return r.stdout.toString();
}

/** The serial numbers openssl lists in a CRL's text. */
function serialsOnCrl(text: string): bigint[] {
  return [...text.matchAll(/Serial Number:\s*([0-9A-Fa-f:]+)/g)].map((m) => serialValue(m[1]));
}

/** Any key of a JSON value that matches `pattern`. */
function keysMatching(value: unknown, pattern: RegExp, where = "$"): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => keysMatching(v, pattern, `${where}[${i}]`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => [...(pattern.test(k) ? [`${where}.${k}`] : []), ...keysMatching(v, pattern, `${where}.${k}`)]);
  }
  return [];
}

describe("opcua-gds CLI certificate desk (built, end to end, manual approval, SQLite)", () => {
  before(async () => {
    assert.ok(existsSync(CLI), `the CLI is not built: ${CLI} (run npx tsc -p tsconfig.json)`);
    root = await fs.mkdtemp(path.join(os.tmpdir(), "opcua-gds-e2e-certs-"));
    setCliWorkDir(root);
    dataDir = path.join(root, "data");
    pkiRoot = await fs.mkdtemp(path.join(root, "client-pki-"));
    ({ keys } = await testKeyPair());
    server = await startServer(["--approval", "manual", "--port", "0", "--host", "127.0.0.1", "--data", dataDir], { env: { OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD } });
  });

  after(async () => {
    try {
      if (server && server.child.exitCode === null && server.child.signalCode === null) {
        const stopped = await stopServer(server);
        assert.equal(stopped.code, 0, `start exited with ${stopped.code} (signal ${stopped.signal}) on SIGTERM\nstderr: ${stopped.stderr}`);
      }
    } finally {
      await killIfRunning(server);
      killChildren();
      if (root) await fs.rm(root, { recursive: true, force: true });
    }
  });

  it("manual approval: FinishRequest answers Bad_NothingToDo, request list --pending shows the request New, request approve issues it, FinishRequest delivers it, request list shows it Accepted", async () => {
    await asAdmin(async (d, c) => {
      const app = await register(d, "desk");
      const requestId = await startSigning(c, app);
      await assert.rejects(c.finishRequest(app.id, requestId), withStatus(StatusCodes.BadNothingToDo));

      const waiting = await pending();
      assert.equal(waiting.length, 1, `exactly one pending request expected:\n${JSON.stringify(waiting, null, 2)}`);
      assert.ok(sameId(waiting[0].requestId, requestId), `pending ${waiting[0].requestId}, started ${requestId}`);
      assert.ok(sameId(waiting[0].applicationId, app.id));
      assert.equal(waiting[0].state, "New");
      assert.equal(waiting[0].kind, "SigningRequest");
      assert.equal(waiting[0].requestedBy, "admin");

      const approved = await gdsOk(["request", "approve", waiting[0].requestId]);
      assert.match(approved.stdout, /approved/);

      const done = await collect(c, app, requestId);
      assert.equal(done.privateKey, null, "a CSR request delivers no private key");
      assert.ok(done.issuerCertificates.length >= 1, "the issuer chain is delivered");

      const row = await requestRow(requestId);
      assert.equal(row.state, "Accepted");
      assert.equal(row.decidedBy, CLI_ACTOR);
      assert.ok(row.serial && serialValue(row.serial) === serialValue(done.serial), `serial ${row.serial} of the request, ${done.serial} of the certificate`);
      assert.deepEqual(await pending(), []);
    });
  });

  it('rejection: request reject --reason "unknown device" makes FinishRequest answer Bad_RequestNotAllowed; request list shows the reason', async () => {
    await asAdmin(async (d, c) => {
      const app = await register(d, "reject");
      const requestId = await startSigning(c, app);
      const waiting = await pending();
      assert.deepEqual(
        waiting.map((r) => guidOf(`g=${r.requestId}`)),
        [guidOf(requestId)],
      );

      const rejected = await gdsOk(["request", "reject", waiting[0].requestId, "--reason", "unknown device"]);
      assert.match(rejected.stdout, /rejected/);
      await assert.rejects(c.finishRequest(app.id, requestId), withStatus(StatusCodes.BadRequestNotAllowed));

      const row = await requestRow(requestId);
      assert.equal(row.state, "Rejected");
      assert.equal(row.rejectReason, "unknown device");
      assert.equal(row.decidedBy, CLI_ACTOR);
      assert.equal(row.serial, null);
      assert.deepEqual(await pending(), []);
    });
  });

  it("bulk: request approve --all --filter 'urn:plant1:%' approves exactly the three plant1 requests; app approve approves the plant2 one", async () => {
    await asAdmin(async (d, c) => {
      const plant1 = [await register(d, "bulk-a"), await register(d, "bulk-b"), await register(d, "bulk-c")];
      const plant2 = await register(d, "bulk-x", "urn:plant2:linebulk-x:plc");
      for (const a of plant1) assert.match(a.uri, /^urn:plant1:/);
      const requests = new Map<string, string>();
      for (const app of [...plant1, plant2]) requests.set(app.uri, await startSigning(c, app));

      const before = await pending();
      assert.deepEqual(before.map((r) => guidOf(`g=${r.requestId}`)).sort(), [...requests.values()].map(guidOf).sort(), "the four requests are pending");

      const results = await gdsJson<ApproveResultJson[]>(["request", "approve", "--all", "--filter", "urn:plant1:%"]);
      assert.deepEqual(results.filter((r) => r.error), [], "no approval failed");
      assert.deepEqual(results.map((r) => r.applicationUri).sort(), plant1.map((a) => a.uri).sort());
      assert.deepEqual(results.map((r) => guidOf(`g=${r.requestId}`)).sort(), plant1.map((a) => guidOf(requests.get(a.uri)!)).sort());

      const left = await pending();
      assert.equal(left.length, 1, `only the plant2 request is left:\n${JSON.stringify(left, null, 2)}`);
      assert.ok(sameId(left[0].requestId, requests.get(plant2.uri)!));
      assert.ok(sameId(left[0].applicationId, plant2.id));

      const appApproved = await gdsOk(["app", "approve", plant2.id]);
      assert.match(appApproved.stdout, /approved/);
      assert.deepEqual(await pending(), []);

      for (const app of [...plant1, plant2]) await collect(c, app, requests.get(app.uri)!);
      for (const app of [...plant1, plant2]) assert.equal((await requestRow(requests.get(app.uri)!)).state, "Accepted");
    });
  });

  it("cert list shows the issued certificates valid (--expiring 400d includes them, 1d not); cert revoke puts one on the CRL of the running server's trust list and CheckRevocationStatus answers Bad_CertificateRevoked; cert revoke --app revokes the rest", async () => {
    await asAdmin(async (d, c) => {
      // One application with two certificates of its own.
      const app = await register(d, "revoke");
      const mine: Array<{ serial: string; der: Buffer }> = [];
      for (let i = 0; i < 2; i++) {
        const requestId = await startSigning(c, app);
        await gdsOk(["request", "approve", guidOf(requestId)]);
        const done = await collect(c, app, requestId);
        mine.push({ serial: done.serial, der: done.certificate });
      }

      const listed = await gdsJson<CertJson[]>(["cert", "list"]);
      for (const cert of issued) {
        const row = listed.find((r) => serialValue(r.serial) === serialValue(cert.serial));
        assert.ok(row, `certificate ${cert.serial} of ${cert.applicationUri} is not in cert list --json`);
        assert.equal(row.state, "valid", `state of ${cert.serial}`);
        assert.equal(row.applicationUri, cert.applicationUri);
        assert.ok(sameId(row.applicationId, cert.applicationId));
      }

      const within400d = await gdsJson<CertJson[]>(["cert", "list", "--expiring", "400d"]);
      for (const cert of issued) assert.ok(within400d.some((r) => serialValue(r.serial) === serialValue(cert.serial)), `--expiring 400d misses ${cert.serial}`);
      const within1d = await gdsJson<CertJson[]>(["cert", "list", "--expiring", "1d"]);
      for (const cert of issued) assert.ok(!within1d.some((r) => serialValue(r.serial) === serialValue(cert.serial)), `--expiring 1d lists ${cert.serial}`);

      // Revoke the first by serial, as cert list prints it.
      const [first, second] = mine;
      const printed = listed.find((r) => serialValue(r.serial) === serialValue(first.serial))!.serial;
      assertStatus((await c.checkRevocationStatus(first.der)).status, StatusCodes.Good, "CheckRevocationStatus before revocation");
      const revoked = await gdsOk(["cert", "revoke", printed]);
      assert.match(revoked.stdout, /revoked/);

      assertStatus((await c.checkRevocationStatus(first.der)).status, StatusCodes.BadCertificateRevoked, "CheckRevocationStatus of the revoked certificate");
      assertStatus((await c.checkRevocationStatus(second.der)).status, StatusCodes.Good, "CheckRevocationStatus of the other certificate");

      const trustList = await c.getTrustList(app.id);
      const files = await readTrustList(d.session, trustList);
      assert.ok(files.trustedCrls.length >= 1, "the trust list holds a CRL");
      const crlSerials = files.trustedCrls.flatMap((crl) => serialsOnCrl(crlText(crl)));
      assert.ok(crlSerials.includes(serialValue(first.serial)), `serial ${first.serial} is not on the CRL of the trust list (${crlSerials.map((s) => s.toString(16)).join(", ")})`);
      assert.ok(!crlSerials.includes(serialValue(second.serial)), "the unrevoked certificate is on the CRL");

      const afterOne = await gdsJson<CertJson[]>(["cert", "list", "--app", app.id]);
      const stateOf = (rows: CertJson[], serial: string) => rows.find((r) => serialValue(r.serial) === serialValue(serial))?.state;
      assert.equal(afterOne.length, 2, JSON.stringify(afterOne, null, 2));
      assert.equal(stateOf(afterOne, first.serial), "revoked");
      assert.equal(stateOf(afterOne, second.serial), "valid");
      assert.ok(!(await gdsJson<CertJson[]>(["cert", "list", "--expiring", "400d"])).some((r) => serialValue(r.serial) === serialValue(first.serial)), "--expiring lists a revoked certificate");

      // The rest of the application's certificates.
      const rest = await gdsJson<CertJson[]>(["cert", "revoke", "--app", app.id]);
      assert.deepEqual(
        rest.map((r) => serialValue(r.serial)),
        [serialValue(second.serial)],
        "cert revoke --app revokes exactly the certificates not yet revoked",
      );
      assertStatus((await c.checkRevocationStatus(second.der)).status, StatusCodes.BadCertificateRevoked, "CheckRevocationStatus after cert revoke --app");
      const afterAll = await gdsJson<CertJson[]>(["cert", "list", "--app", app.id]);
      assert.deepEqual(afterAll.map((r) => r.state), ["revoked", "revoked"]);
      const filesAfter = await readTrustList(d.session, trustList);
      const serialsAfter = filesAfter.trustedCrls.flatMap((crl) => serialsOnCrl(crlText(crl)));
      for (const cert of mine) assert.ok(serialsAfter.includes(serialValue(cert.serial)), `serial ${cert.serial} is not on the CRL after cert revoke --app`);

      // The other applications' certificates are untouched.
      for (const cert of issued.filter((x) => !sameId(x.applicationId, app.id))) {
        assertStatus((await c.checkRevocationStatus(cert.der)).status, StatusCodes.Good, `CheckRevocationStatus of ${cert.applicationUri}`);
      }
    });
  });

  it("audit --since 1h --json records StartSigningRequest, CertificateIssued, CertificateDelivered, RejectRequest and CertificateRevoked with their actors; no output holds a private key or a password", async () => {
    const { signed, rejected, serial } = await asAdmin(async (d, c) => {
      const app = await register(d, "audit");
      const signed = await startSigning(c, app);
      await gdsOk(["request", "approve", guidOf(signed)]);
      const done = await collect(c, app, signed);
      const rejected = await startSigning(c, app);
      await gdsOk(["request", "reject", guidOf(rejected), "--reason", "audit check"]);
      await gdsOk(["cert", "revoke", done.serial]);

      // A new key pair with a password: its key travels through FinishRequest, never into the trail.
      const keyRequest = await c.startNewKeyPairRequest(app.id, { subjectName: "CN=audit", privateKeyFormat: "PEM", password: KEY_PASSWORD });
      await gdsOk(["request", "approve", guidOf(keyRequest)]);
      const withKey = await c.finishRequest(app.id, keyRequest);
      assert.match(withKey.privateKey?.toString() ?? "", /PRIVATE KEY/, "the new key pair's private key is delivered");
      return { signed: guidOf(signed), rejected: guidOf(rejected), serial: done.serial };
    });

    const audit = await cliOk(["audit", "--since", "1h", "--json", "--data", dataDir], { env: { USER: OPERATOR } });
    outputs.push({ args: ["audit", "--since", "1h", "--json"], ...audit });
    const records = JSON.parse(audit.stdout) as AuditJson[];
    assert.ok(Array.isArray(records) && records.length > 0, "audit --json is an array of records");
    for (const r of records) assert.ok(typeof r.actor === "string" && r.actor.length > 0, `record without actor: ${JSON.stringify(r)}`);

    const find = (action: string, about: (r: AuditJson) => boolean) => {
      const hit = records.find((r) => r.action === action && about(r));
      assert.ok(hit, `no ${action} record for this flow in audit --json:\n${JSON.stringify(records.filter((r) => r.action === action), null, 2)}`);
      return hit;
    };
    const mentions = (text: string) => (r: AuditJson) => `${r.subject} ${r.details ?? ""}`.toLowerCase().includes(text.toLowerCase());
    assert.equal(find("StartSigningRequest", mentions(signed)).actor, "admin");
    assert.equal(find("CertificateIssued", mentions(signed)).actor, CLI_ACTOR);
    assert.equal(find("CertificateDelivered", mentions(signed)).actor, "admin");
    assert.equal(find("RejectRequest", mentions(rejected)).actor, CLI_ACTOR);
    const revokedRecord = find("CertificateRevoked", (r) => `${r.subject} ${r.details ?? ""}`.split(/[\s,=]+/).some((w) => /^[0-9a-f:]+$/i.test(w) && serialValue(w) === serialValue(serial)));
    assert.equal(revokedRecord.actor, CLI_ACTOR);
    for (const action of ["StartSigningRequest", "CertificateIssued", "CertificateDelivered", "RejectRequest", "CertificateRevoked"]) {
      assert.ok(records.some((r) => r.action === action), `no ${action} record at all`);
    }

    // Nothing any command or the server printed holds a private key or a password.
    assert.ok(server);
    const everything = [...outputs.map((o) => ({ what: `opcua-gds ${o.args.join(" ")}`, text: `${o.stdout}\n${o.stderr}` })), { what: "opcua-gds start", text: `${server.stdout()}\n${server.stderr()}` }];
    for (const { what, text } of everything) {
      assert.ok(!text.includes("PRIVATE KEY"), `${what} printed a private key`);
      assert.ok(!text.includes(ADMIN_PASSWORD), `${what} printed the admin password`);
      assert.ok(!text.includes(KEY_PASSWORD), `${what} printed the private key password`);
    }
    assert.deepEqual(keysMatching(records, /password|privatekey|sealed/i), [], "audit records have password or key fields");
    const requests = await gdsJson<RequestJson[]>(["request", "list"]);
    assert.deepEqual(keysMatching(requests, /password|privatekey|sealed/i), [], "request list --json has password or key fields");
    assert.ok(!JSON.stringify(requests).includes(KEY_PASSWORD) && !JSON.stringify(requests).includes("PRIVATE KEY"));
  });

  it("errors: request approve of a malformed id, without id or --all, of an approved request, cert revoke zzz and audit --since yesterday-ish exit non-zero with a message", async () => {
    const badId = await gdsFails(["request", "approve", "not-a-guid"]);
    assert.match(badId.stderr, /not-a-guid/);
    assert.match(badId.stderr, /RequestId/);

    const noId = await gdsFails(["request", "approve"]);
    assert.match(noId.stderr, /RequestId/);
    assert.match(noId.stderr, /--all/);

    await asAdmin(async (d, c) => {
      const app = await register(d, "twice");
      const requestId = await startSigning(c, app);
      await gdsOk(["request", "approve", guidOf(requestId)]);
      const again = await gdsFails(["request", "approve", guidOf(requestId)]);
      assert.match(again.stderr, new RegExp(guidOf(requestId)), `stderr does not name the request:\n${again.stderr}`);
      assert.match(again.stderr, /Approved|not New/, `stderr does not say the request is decided:\n${again.stderr}`);
      await collect(c, app, requestId);
      const accepted = await gdsFails(["request", "approve", guidOf(requestId)]);
      assert.match(accepted.stderr, /Accepted|not New/);
      const rejectDecided = await gdsFails(["request", "reject", guidOf(requestId)]);
      assert.match(rejectDecided.stderr, new RegExp(guidOf(requestId)));
      assert.equal((await requestRow(requestId)).state, "Accepted", "a failed approve or reject changed the request");
    });

    const badSerial = await gdsFails(["cert", "revoke", "zzz"]);
    assert.match(badSerial.stderr, /zzz/);
    assert.match(badSerial.stderr, /serial/i);

    const badSince = await gdsFails(["audit", "--since", "yesterday-ish"]);
    assert.match(badSince.stderr, /yesterday-ish/);
    assert.match(badSince.stderr, /date/i, `stderr does not name the date form:\n${badSince.stderr}`);
    assert.match(badSince.stderr, /duration|\b\d+[smhdw]\b/i, `stderr does not name the duration form:\n${badSince.stderr}`);
    assert.match(badSince.stderr, /\b\d+h\b/, `stderr gives no example duration such as 24h:\n${badSince.stderr}`);
  });
});
