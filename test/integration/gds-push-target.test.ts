import "reflect-metadata";
import assert from "node:assert/strict";
import { X509Certificate, createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { DataType, MessageSecurityMode, NodeId, StatusCodes } from "node-opcua";
import { parseCertificateRequest } from "../../src/ca/csr";
import { readTrustList } from "../../src/client/trust-list-reader";
import { selfSignedApplicationCertificate } from "../helpers/certificates";
import { BACKENDS } from "../helpers/databases";
import { ADMIN_PASSWORD, startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../helpers/opcua-client";
import {
  SC,
  TestCa,
  applyChanges,
  call,
  createSigningRequest,
  disposePushClientStores,
  failsWith,
  getRejectedList,
  presentedCertificate,
  trustListMethods,
  updateCertificate,
  withPushSession,
  writeTrustList,
} from "../helpers/push-target";

const ENGINEER_PASSWORD = "engineer-password";
const admin = { userName: "admin", password: ADMIN_PASSWORD };
const thumbprint = (der: Buffer) => createHash("sha1").update(der).digest("hex");

for (const backend of BACKENDS) {
  describe(`the GDS as a push target (OPC 10000-12 §7.10, ${backend})`, () => {
    let gds: TestGds;
    let gdsCa: TestCa;
    let otherCa: TestCa;
    let pusher: Awaited<ReturnType<TestCa["clientApplication"]>>;
    let scratch: string;

    before(async () => {
      // Strict trust: the channel trust list decides who gets in, so a pushed one matters.
      gds = await startTestGds(backend, undefined, { strictTrust: true });
      gdsCa = await TestCa.load(path.dirname(gds.caCertificateFile));
      otherCa = await TestCa.create("Plant CA");
      pusher = await gdsCa.clientApplication("urn:opcua-gds:test:engineering-station");
      scratch = await tempDir("gds-push");
      await gds.gds.services.users.addUser("test", "engineer", ["DiscoveryAdmin"], ENGINEER_PASSWORD);
    });
    after(async () => {
      await gds?.stop();
      await disposePushClientStores();
      await disposeClientStores();
      await gdsCa?.dispose();
      await otherCa?.dispose();
      await fs.rm(scratch, { recursive: true, force: true });
    });

    it("only SecurityAdmin over SignAndEncrypt may manage it: a DiscoveryAdmin or anonymous session gets BadUserAccessDenied, a Sign-only channel BadSecurityModeInsufficient", async () => {
      const refusals = async (user: { userName: string; password: string } | undefined, mode: MessageSecurityMode, expected: typeof StatusCodes.Good) => {
        await withPushSession(gds.endpointUrl, { user, mode, application: pusher }, async (session) => {
          await assert.rejects(createSigningRequest(session, true), failsWith(expected));
          await assert.rejects(updateCertificate(session, pusher.certificate, []), failsWith(expected));
          await assert.rejects(applyChanges(session), failsWith(expected));
          await assert.rejects(getRejectedList(session), failsWith(expected));
          const m = await trustListMethods(session);
          assert.ok(m.has("OpenWithMasks") && m.has("AddCertificate"), "every session finds the TrustList methods by browsing");
          await assert.rejects(call(session, SC.trustList, m.get("OpenWithMasks")!, [{ dataType: DataType.UInt32, value: 15 }]), failsWith(expected));
          await assert.rejects(call(session, SC.trustList, m.get("Open")!, [{ dataType: DataType.Byte, value: 0x06 }]), failsWith(expected));
        });
      };
      await refusals({ userName: "engineer", password: ENGINEER_PASSWORD }, MessageSecurityMode.SignAndEncrypt, StatusCodes.BadUserAccessDenied);
      await refusals(undefined, MessageSecurityMode.SignAndEncrypt, StatusCodes.BadUserAccessDenied);
      await refusals(admin, MessageSecurityMode.Sign, StatusCodes.BadSecurityModeInsufficient);
    });

    it("a pushed trust list replaces the channel trust, yet the GDS's own CA stays trusted: GDS-issued clients still connect, the plant CA's clients now do, a stranger is refused and listed by GetRejectedList", async () => {
      const plantClient = await otherCa.clientApplication("urn:plant1:scada");
      const stranger = await selfSignedApplicationCertificate("urn:plant1:stranger", scratch, "stranger");
      await assert.rejects(withPushSession(gds.endpointUrl, { user: admin, application: plantClient }, async () => undefined), "strict trust refuses the plant CA's client before the push");
      const pushed = await otherCa.trustList();
      await withPushSession(gds.endpointUrl, { user: admin, application: pusher }, async (session) => {
        assert.equal(await writeTrustList(session, pushed), true);
        await applyChanges(session);
      });
      await withPushSession(gds.endpointUrl, { user: admin, application: plantClient }, async (session) => {
        const read = await readTrustList(session, NodeId.resolveNodeId(SC.trustList));
        const trusted = read.trustedCertificates.map(thumbprint).sort();
        assert.deepEqual(trusted, [thumbprint(otherCa.certificateDer), thumbprint(gdsCa.certificateDer)].sort(), "the pushed CA plus the GDS's own");
        assert.equal(read.trustedCrls.length, 2);
        const m = await trustListMethods(session);
        await assert.rejects(
          call(session, SC.trustList, m.get("RemoveCertificate")!, [{ dataType: DataType.String, value: thumbprint(gdsCa.certificateDer) }, { dataType: DataType.Boolean, value: true }]),
          failsWith(StatusCodes.BadRequestNotAllowed),
        );
      });
      await withDirectory(gds, { user: admin, application: pusher }, async (d) => {
        assert.deepEqual(await d.findApplications("urn:nobody"), []);
      });
      await assert.rejects(withPushSession(gds.endpointUrl, { user: admin, application: stranger }, async () => undefined));
      await withPushSession(gds.endpointUrl, { user: admin, application: pusher }, async (session) => {
        const rejected = (await getRejectedList(session)).map(thumbprint);
        assert.ok(rejected.includes(thumbprint(new X509Certificate(await fs.readFile(stranger.certificateFile)).raw)), "the stranger is in the rejected list");
      });
      const audit = await gds.gds.services.audit.since(0, 1000);
      assert.ok(audit.some((r) => r.action === "ServerTrustListUpdated" && r.actor === "admin" && r.outcome === "Good"), JSON.stringify(audit.map((r) => r.action)));
    });

    it("a new certificate for a new key (CreateSigningRequest, signed by the GDS CA, UpdateCertificate, ApplyChanges) is presented after reconnecting, written 0600, audited, and kept across a restart", async () => {
      let issued: Buffer = Buffer.alloc(0);
      await withPushSession(gds.endpointUrl, { user: admin, application: pusher }, async (session) => {
        const csrDer = await createSigningRequest(session, true);
        const csr = await parseCertificateRequest(csrDer);
        assert.deepEqual(csr.uris, [gds.gds.services.config.applicationUri]);
        issued = await gdsCa.signCsr(csrDer);
        assert.equal(await updateCertificate(session, issued, [gdsCa.certificateDer]), true);
        await applyChanges(session);
      });
      assert.deepEqual(await presentedCertificate(gds.endpointUrl), issued);
      // A client that trusts only the GDS CA verifies the new certificate and works as before.
      await withDirectory(gds, { user: admin, application: pusher }, async (d) => {
        assert.deepEqual(await d.findApplications("urn:nobody"), []);
      });
      const keyFile = path.join(gds.dataDir, "server-pki", "own", "private", "private_key.pem");
      assert.equal((await fs.stat(keyFile)).mode & 0o777, 0o600);
      const audit = await gds.gds.services.audit.since(0, 1000);
      assert.ok(audit.some((r) => r.action === "ServerCertificateUpdated" && r.subject.includes(thumbprint(issued))));

      await gds.stop({ keepData: true });
      gds = await startTestGds(backend, { dataDir: gds.dataDir, database: gds.database }, { strictTrust: true });
      assert.deepEqual(await presentedCertificate(gds.endpointUrl), issued, "the restarted GDS presents the pushed certificate");
    });
  });
}
