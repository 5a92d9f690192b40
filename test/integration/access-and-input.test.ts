import "reflect-metadata";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as x509 from "@peculiar/x509";
import {
  ApplicationDescription,
  DataType,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  VariantArrayType,
} from "node-opcua";
import { OpaqueStructure } from "node-opcua-extension-object";
import { ApplicationType } from "../../src/domain/application";
import { generateRsaKeyPair, privateKeyToPem, randomSerialHex } from "../../src/ca/certificate-authority";
import { cliOk } from "../helpers/cli";
import { BACKENDS } from "../helpers/databases";
import { ADMIN_PASSWORD, startTestGds, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../helpers/opcua-client";
import { serverRecord } from "../helpers/records";
import { withStatus } from "../helpers/status";

const admin = { user: { userName: "admin", password: ADMIN_PASSWORD } };
const MEGABYTE = "x".repeat(1024 * 1024);

async function userCertificate(name: string): Promise<{ certificate: Buffer; privateKeyPem: string }> {
  const keys = await generateRsaKeyPair(2048);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 86400_000),
    keys,
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment, true),
    ],
  });
  return { certificate: Buffer.from(cert.rawData), privateKeyPem: await privateKeyToPem(keys.privateKey) };
}

for (const backend of BACKENDS) {
  describe(`access control and hostile input (${backend})`, () => {
    let gds: TestGds;
    before(async () => {
      gds = await startTestGds(backend);
      await gds.gds.services.users.addUser("test", "viewer", [], "viewer-password");
      await gds.gds.services.users.addUser("test", "ca-admin", ["CertificateAuthorityAdmin"], "ca-admin-password");
      await gds.gds.services.users.addUser("test", "discovery", ["DiscoveryAdmin"], "discovery-password");
    });
    after(async () => {
      await gds?.stop();
      await disposeClientStores();
    });

    it("an authenticated user without DiscoveryAdmin gets Bad_UserAccessDenied for every change", async () => {
      for (const userName of ["viewer", "ca-admin"]) {
        await withDirectory(gds, { user: { userName, password: `${userName}-password` } }, async (d) => {
          await assert.rejects(d.registerApplication(serverRecord(`deny-${userName}`)), withStatus(StatusCodes.BadUserAccessDenied));
          const id = await withDirectory(gds, admin, (a) => a.registerApplication(serverRecord(`owned-${userName}`)));
          await assert.rejects(d.updateApplication(id, serverRecord(`owned-${userName}`)), withStatus(StatusCodes.BadUserAccessDenied));
          await assert.rejects(d.unregisterApplication(id), withStatus(StatusCodes.BadUserAccessDenied));
          assert.equal((await d.getApplication(id)).applicationUri, `urn:plant1:lineowned-${userName}:plc`);
        });
      }
    });

    it("a wrong password is refused at ActivateSession", async () => {
      await assert.rejects(withDirectory(gds, { user: { userName: "discovery", password: "wrong-password" } }, async () => undefined));
      await assert.rejects(withDirectory(gds, { user: { userName: "nobody", password: "whatever-1" } }, async () => undefined));
    });

    it("a role removed while a session is open stops working at the next call", async () => {
      await gds.gds.services.users.addUser("test", "temporary", ["DiscoveryAdmin"], "temporary-password");
      await withDirectory(gds, { user: { userName: "temporary", password: "temporary-password" } }, async (d) => {
        await d.registerApplication(serverRecord("temp-1"));
        await gds.gds.services.users.removeUser("test", "temporary");
        await assert.rejects(d.registerApplication(serverRecord("temp-2")), withStatus(StatusCodes.BadUserAccessDenied));
      });
    });

    it("a user removed by another process (the CLI) while a session is open is refused at the next call", async () => {
      await gds.gds.services.users.addUser("test", "elsewhere", ["DiscoveryAdmin"], "elsewhere-password");
      await withDirectory(gds, { user: { userName: "elsewhere", password: "elsewhere-password" } }, async (d) => {
        // Two calls first: the second answers from whatever the server keeps of the user's roles.
        await d.registerApplication(serverRecord("elsewhere-1"));
        await d.registerApplication(serverRecord("elsewhere-2"));
        await cliOk(["user", "remove", "elsewhere", "--data", gds.dataDir, ...(gds.database.url ? ["--db", gds.database.url] : [])]);
        await assert.rejects(d.registerApplication(serverRecord("elsewhere-3")), withStatus(StatusCodes.BadUserAccessDenied));
      });
    });

    it("an X509 user token bound to a DiscoveryAdmin user may register; an unbound certificate is refused", async () => {
      const bound = await userCertificate("operator");
      await gds.gds.services.users.addUser("test", "operator", ["DiscoveryAdmin"], null, bound.certificate);
      await withDirectory(gds, { x509: bound }, async (d) => {
        await d.registerApplication(serverRecord("x509"));
      });
      const stranger = await userCertificate("stranger");
      await assert.rejects(withDirectory(gds, { x509: stranger }, async () => undefined));
    });

    it("the None policy serves discovery only: GetEndpoints and FindServers work, no endpoint offers None", async () => {
      const client = OPCUAClient.create({
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        endpointMustExist: false,
        connectionStrategy: { maxRetry: 0 },
      });
      await client.connect(gds.endpointUrl);
      try {
        const endpoints = await client.getEndpoints();
        assert.ok(endpoints.length >= 6);
        assert.ok(endpoints.every((e) => e.securityMode !== MessageSecurityMode.None), "no None endpoint");
        assert.ok(endpoints.some((e) => e.securityMode === MessageSecurityMode.SignAndEncrypt && e.securityPolicyUri === SecurityPolicy.Aes256_Sha256_RsaPss));
        const servers = await client.findServers();
        assert.equal(servers.length, 1);
        assert.equal(servers[0].applicationUri, gds.gds.services.config.applicationUri);
        await assert.rejects(client.createSession());
      } finally {
        await client.disconnect();
      }
    });

    it("1 MB strings answer Bad_InvalidArgument and the server keeps answering", async () => {
      await withDirectory(gds, admin, async (d) => {
        await assert.rejects(d.registerApplication(serverRecord("big", { applicationUri: `urn:${MEGABYTE}` })), withStatus(StatusCodes.BadInvalidArgument));
        await assert.rejects(d.registerApplication(serverRecord("big2", { applicationNames: [{ locale: "en", text: MEGABYTE }] })), withStatus(StatusCodes.BadInvalidArgument));
        await assert.rejects(d.findApplications(MEGABYTE), withStatus(StatusCodes.BadInvalidArgument));
        await assert.rejects(d.queryApplications({ applicationName: MEGABYTE }), withStatus(StatusCodes.BadInvalidArgument));
        await assert.rejects(d.queryServers({ productUri: MEGABYTE }), withStatus(StatusCodes.BadInvalidArgument));
        await d.registerApplication(serverRecord("after-big"));
      });
    });

    it("an out-of-range ApplicationType filter or record answers Bad_InvalidArgument", async () => {
      await withDirectory(gds, admin, async (d) => {
        await assert.rejects(d.queryApplications({ applicationType: 9 }), withStatus(StatusCodes.BadInvalidArgument));
        await assert.rejects(d.registerApplication(serverRecord("type", { applicationType: 4 as ApplicationType })), withStatus(StatusCodes.BadInvalidArgument));
      });
    });

    it("malformed arguments answer a Bad status, never Bad_InternalError, and the server keeps answering", async () => {
      await withDirectory(gds, admin, async (d) => {
        const encodingId = d.nodeId(134); // DefaultBinary of ApplicationRecordDataType
        const cases = [
          { name: "truncated structure body", args: [{ dataType: DataType.ExtensionObject, value: new OpaqueStructure(encodingId, Buffer.from([1, 2, 3])) }] },
          { name: "random structure body", args: [{ dataType: DataType.ExtensionObject, value: new OpaqueStructure(encodingId, Buffer.alloc(64, 0xff)) }] },
          { name: "another structure", args: [{ dataType: DataType.ExtensionObject, value: new ApplicationDescription({ applicationUri: "urn:x" }) }] },
          { name: "a string", args: [{ dataType: DataType.String, value: "urn:x" }] },
          { name: "an array", args: [{ dataType: DataType.ExtensionObject, arrayType: VariantArrayType.Array, value: [] }] },
          { name: "no argument", args: [] },
        ];
        for (const c of cases) {
          const r = await d.call("RegisterApplication", c.args);
          assert.ok(r.statusCode.isNotGood(), `${c.name}: ${r.statusCode.toString()}`);
          assert.notEqual(r.statusCode.value, StatusCodes.BadInternalError.value, c.name);
        }
        const wrongId = await d.call("GetApplication", [{ dataType: DataType.String, value: "ns=1;g=00000000-0000-4000-8000-000000000001" }]);
        assert.ok(wrongId.statusCode.isNotGood());
        assert.notEqual(wrongId.statusCode.value, StatusCodes.BadInternalError.value);
        await d.registerApplication(serverRecord("after-malformed"));
      });
    });

    it("more sessions than node-opcua's default of 10 are served at once", async () => {
      let open = 0;
      let release!: () => void;
      const allOpen = new Promise<void>((r) => (release = r));
      await Promise.all(
        Array.from({ length: 14 }, () =>
          withDirectory(gds, {}, async (d) => {
            if (++open === 14) release();
            await allOpen;
            assert.ok(Array.isArray((await d.queryApplications({ maxRecordsToReturn: 1 })).applications));
          }),
        ),
      );
      assert.equal(open, 14);
    });

    it("16 registrations of one ApplicationUri at once store exactly one record", async () => {
      await withDirectory(gds, admin, async (d) => {
        const results = await Promise.allSettled(Array.from({ length: 16 }, () => d.registerApplication(serverRecord("race"))));
        assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
        for (const r of results) if (r.status === "rejected") withStatus(StatusCodes.BadEntryExists)(r.reason);
        assert.equal((await d.findApplications("urn:plant1:linerace:plc")).length, 1);
      });
    });

    it("every change leaves an audit record with the acting user", async () => {
      const before = Date.now() - 1;
      const id = await withDirectory(gds, { user: { userName: "discovery", password: "discovery-password" } }, async (d) => {
        const id = await d.registerApplication(serverRecord("audited"));
        await d.unregisterApplication(id);
        return id.toLowerCase();
      });
      const mine = (await gds.gds.services.audit.since(before, 1000)).filter((r) => r.subject.startsWith(id));
      assert.deepEqual(
        mine.map((r) => [r.action, r.actor, r.outcome]),
        [
          ["RegisterApplication", "discovery", "Good"],
          ["UnregisterApplication", "discovery", "Good"],
        ],
      );
    });
  });
}
