/**
 * The configured limits of a running GDS, each set low through its environment variable: sessions,
 * message size and chunk count granted in the Acknowledge, failed logins per user name and per
 * client certificate, and the size of the rejected-certificate folder.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { StatusCodes, UserTokenType, type OPCUAClient } from "node-opcua";
import { CertificateClient } from "../../src/client/directory-client";
import { selfSignedApplicationCertificate } from "../helpers/certificates";
import { BACKENDS } from "../helpers/databases";
import { ADMIN_PASSWORD, startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../helpers/opcua-client";
import { serverRecord } from "../helpers/records";

const LIMITS = {
  OPCUA_GDS_MAX_SESSIONS: "2",
  OPCUA_GDS_MAX_MESSAGE_SIZE: String(128 * 1024),
  OPCUA_GDS_MAX_CHUNK_COUNT: "40",
  OPCUA_GDS_LOGIN_FREE_ATTEMPTS: "2",
  OPCUA_GDS_LOGIN_FREE_ATTEMPTS_PER_CLIENT: "4",
  OPCUA_GDS_LOGIN_LOCKOUT_SECONDS: "5",
  OPCUA_GDS_LOGIN_LOCKOUT_MAX_SECONDS: "10",
  OPCUA_GDS_MAX_REJECTED_CERTIFICATES: "3",
};
const admin = { user: { userName: "admin", password: ADMIN_PASSWORD } };

/** The Acknowledge a raw Hello gets (OPC 10000-6 §7.1.2): what the server grants a client asking for everything. */
async function helloAck(endpointUrl: string, hello: { receiveBufferSize: number; sendBufferSize: number; maxMessageSize: number; maxChunkCount: number }, after?: Buffer) {
  const url = new URL(endpointUrl);
  const urlBytes = Buffer.from(endpointUrl, "utf8");
  const body = Buffer.alloc(20 + 4 + urlBytes.length);
  body.writeUInt32LE(0, 0);
  body.writeUInt32LE(hello.receiveBufferSize, 4);
  body.writeUInt32LE(hello.sendBufferSize, 8);
  body.writeUInt32LE(hello.maxMessageSize, 12);
  body.writeUInt32LE(hello.maxChunkCount, 16);
  body.writeInt32LE(urlBytes.length, 20);
  urlBytes.copy(body, 24);
  const header = Buffer.alloc(8);
  header.write("HELF", 0, "latin1");
  header.writeUInt32LE(8 + body.length, 4);
  return new Promise<{ ack: { maxMessageSize: number; maxChunkCount: number; receiveBufferSize: number }; next: string | null; nextStatus: number | null }>((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let received = Buffer.alloc(0);
    let ack: { maxMessageSize: number; maxChunkCount: number; receiveBufferSize: number } | null = null;
    const timer = setTimeout(() => finish(), 5000);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      if (!ack) return reject(new Error(`no Acknowledge: ${received.toString("latin1", 0, 4)}`));
      const rest = received.subarray(28);
      resolve({ ack, next: rest.length >= 4 ? rest.toString("latin1", 0, 4) : null, nextStatus: rest.length >= 12 ? rest.readUInt32LE(8) : null });
    };
    socket.on("error", () => finish());
    socket.on("close", () => finish());
    socket.on("connect", () => socket.write(Buffer.concat([header, body])));
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (!ack && received.length >= 28) {
        assert.equal(received.toString("latin1", 0, 4), "ACKF");
        ack = { receiveBufferSize: received.readUInt32LE(12), maxMessageSize: received.readUInt32LE(20), maxChunkCount: received.readUInt32LE(24) };
        if (after) socket.write(after);
        else finish();
      }
    });
  });
}

/** A message chunk header announcing `size` bytes (more than the granted receive buffer). */
function oversizedChunkHeader(size: number): Buffer {
  const header = Buffer.alloc(16);
  header.write("MSGF", 0, "latin1");
  header.writeUInt32LE(size, 4);
  return header;
}

for (const backend of BACKENDS) {
  describe(`configured limits (${backend})`, () => {
    let gds: TestGds;
    let clients: string;
    before(async () => {
      gds = await startTestGds(backend, undefined, { env: LIMITS });
      clients = await tempDir("limits-clients");
      await gds.gds.services.users.addUser("test", "victim", ["DiscoveryAdmin"], "victim-password");
    });
    after(async () => {
      await gds?.stop();
      await disposeClientStores();
      await fs.rm(clients, { recursive: true, force: true });
    });

    it("OPCUA_GDS_MAX_SESSIONS: the session beyond the maximum is refused with Bad_TooManySessions, so is a connection beyond it; once one closes, the next opens", async () => {
      await withDirectory(gds, admin, async (_d, first) => {
        const client = (first as unknown as { _client: OPCUAClient })._client;
        const second = await client.createSession({ type: UserTokenType.UserName, userName: "admin", password: ADMIN_PASSWORD });
        try {
          await assert.rejects(client.createSession({ type: UserTokenType.UserName, userName: "admin", password: ADMIN_PASSWORD }), /BadTooManySessions/);
          await assert.rejects(withDirectory(gds, admin, async () => undefined), /BadTooManySessions/, "a session on another connection is refused as well");
        } finally {
          await second.close();
        }
        await withDirectory(gds, admin, async (d) => {
          assert.ok(await d.queryApplications({}), "with one session closed, another opens");
          // Connections are limited to the same number: a third is refused before any session.
          await assert.rejects(withDirectory(gds, admin, async () => undefined), /Fail to connect/);
        });
      });
    });

    it("OPCUA_GDS_MAX_MESSAGE_SIZE / MAX_CHUNK_COUNT: a client asking for 64 MiB gets the configured maximum; a larger chunk is refused with Bad_TcpMessageTooLarge; the server stays up", async () => {
      const asked = await helloAck(gds.endpointUrl, { receiveBufferSize: 65536, sendBufferSize: 65536, maxMessageSize: 64 * 1024 * 1024, maxChunkCount: 0 });
      assert.equal(asked.ack.maxMessageSize, 128 * 1024);
      assert.equal(asked.ack.maxChunkCount, 40);
      const modest = await helloAck(gds.endpointUrl, { receiveBufferSize: 8192, sendBufferSize: 8192, maxMessageSize: 100_000, maxChunkCount: 20 });
      assert.deepEqual([modest.ack.maxMessageSize, modest.ack.maxChunkCount], [100_000, 20], "a client asking for less gets what it asked");
      const flooded = await helloAck(gds.endpointUrl, { receiveBufferSize: 65536, sendBufferSize: 65536, maxMessageSize: 0, maxChunkCount: 0 }, oversizedChunkHeader(10 * 1024 * 1024));
      assert.equal(flooded.next, "ERRF", "the server answers an oversized chunk with an Error message");
      assert.equal(flooded.nextStatus, StatusCodes.BadTcpMessageTooLarge.value);
      // A node-opcua client keeps to the granted size: a 200 KiB request fails with a Bad status, nothing else breaks.
      await withDirectory(gds, admin, async (d) => {
        const id = await d.registerApplication(serverRecord("limits-big"));
        await assert.rejects(new CertificateClient(d).startSigningRequest(id, Buffer.alloc(200 * 1024, 0x30)), /Bad|too large|exceed/i);
      });
      assert.equal((await withDirectory(gds, admin, (d) => d.findApplications("urn:plant1:linelimits-big:plc"))).length, 1);
    });

    it("failed logins: a user name is locked after 2 failures for 5 s (even the right password fails), an unknown name the same way; both audited", async () => {
      // Each name from its own client certificate, so that only the per-name limit is at work.
      const stations = {
        victim: await selfSignedApplicationCertificate(`urn:limits:${backend}:station-v`, clients, `station-v-${backend}`),
        ghost: await selfSignedApplicationCertificate(`urn:limits:${backend}:station-g`, clients, `station-g-${backend}`),
      };
      const login = (userName: "victim" | "ghost", password: string) => withDirectory(gds, { application: stations[userName], user: { userName, password } }, async () => "ok");
      let lockedAt = 0;
      for (const userName of ["victim", "ghost"] as const) {
        for (let i = 0; i < 3; i++) await assert.rejects(login(userName, "wrong-password"), /BadUserAccessDenied/);
        if (userName === "victim") lockedAt = Date.now();
        // Right after the third failure: locked, whether the name exists or not, and with the same answer.
        await assert.rejects(login(userName, userName === "victim" ? "victim-password" : "any-password-1"), /BadUserAccessDenied/, `${userName}: locked, the right password is refused too`);
      }
      assert.ok(Date.now() - lockedAt < 5000, "the machine was too slow to see the lockout at work");
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 5200 - (Date.now() - lockedAt))));
      assert.equal(await login("victim", "victim-password"), "ok", "the lockout ends after 5 s");
      const audit = await gds.gds.services.audit.since(0, 10_000);
      const failed = audit.filter((a) => a.action === "LoginFailed");
      assert.ok(failed.filter((a) => a.subject === "user victim").length >= 3);
      assert.ok(failed.filter((a) => a.subject === "user ghost").length >= 3);
      assert.ok(audit.some((a) => a.action === "LoginThrottled" && a.subject === "user victim" && /lockedFor=5000ms/.test(a.details ?? "")));
      assert.ok(audit.some((a) => a.action === "LoginThrottled" && a.subject === "user ghost"));
      assert.ok(!JSON.stringify(audit).includes("wrong-password") && !JSON.stringify(audit).includes("victim-password"), "no password in the audit trail");
    });

    it("failed logins: one client certificate trying many names is locked after 4 failures; the same user from another client signs in", async () => {
      const sprayer = await selfSignedApplicationCertificate(`urn:limits:${backend}:sprayer`, clients, `sprayer-${backend}`);
      const other = await selfSignedApplicationCertificate(`urn:limits:${backend}:other`, clients, `other-${backend}`);
      const from = (application: typeof sprayer, userName: string, password: string) => withDirectory(gds, { application, user: { userName, password } }, async () => "ok");
      for (let i = 0; i < 5; i++) await assert.rejects(from(sprayer, `spray${i}`, "guess-password"), /BadUserAccessDenied/);
      await assert.rejects(from(sprayer, "admin", ADMIN_PASSWORD), /BadUserAccessDenied/, "the sprayer's certificate is locked");
      assert.equal(await from(other, "admin", ADMIN_PASSWORD), "ok");
      const audit = await gds.gds.services.audit.since(0, 10_000);
      assert.ok(audit.some((a) => a.action === "LoginThrottled" && a.subject.startsWith("client ")));
    });

    it("OPCUA_GDS_MAX_REJECTED_CERTIFICATES: the rejected folder keeps the 3 newest refused client certificates (--strict-trust)", async () => {
      // Without strict trust unknown clients are accepted and not recorded as rejected; with it they are refused and recorded.
      const strict = await startTestGds(backend, undefined, { env: LIMITS, strictTrust: true });
      const rejected = path.join(strict.dataDir, "server-pki", "rejected");
      const made: Buffer[] = [];
      try {
        for (let i = 0; i < 6; i++) {
          const application = await selfSignedApplicationCertificate(`urn:limits:${backend}:unknown${i}`, clients, `unknown${i}-${backend}`);
          made.push(Buffer.from(await fs.readFile(application.certificateFile, "utf8")));
          await assert.rejects(withDirectory(strict, { application }, async (d) => d.findApplications("urn:none")));
        }
        let files: string[] = [];
        for (let wait = 0; wait < 50; wait++) {
          files = (await fs.readdir(rejected)).filter((f) => f.endsWith(".pem"));
          if (files.length <= 3) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.ok(files.length > 0 && files.length <= 3, `${files.length} certificates kept in rejected/`);
        const kept = await Promise.all(files.map((f) => fs.readFile(path.join(rejected, f), "utf8")));
        const newest = made[made.length - 1].toString().replace(/\s+/g, "");
        assert.ok(kept.some((k) => k.replace(/\s+/g, "").includes(newest.replace(/-----[A-Z ]+-----/g, ""))), "the newest refused certificate is kept");
      } finally {
        await strict.stop();
      }
    });
  });
}
