import "reflect-metadata";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DataType,
  MessageSecurityMode,
  NodeId,
  OPCUACertificateManager,
  OPCUAServer,
  StatusCodes,
  WellKnownRoles,
  nodesets,
  type UAObject,
} from "node-opcua";
import { installServerConfiguration } from "../../src/opcua/server-configuration";
import { SECURITY_POLICIES } from "../../src/opcua/security-policies";
import { tempDir } from "../helpers/gds-fixture";
import { SC, call, createSigningRequest, disposePushClientStores, failsWith, presentedCertificate, withPushSession } from "../helpers/push-target";

const GET_CERTIFICATES = 32333;
const securityAdmin = new NodeId(NodeId.NodeIdType.NUMERIC, WellKnownRoles.SecurityAdmin, 0);
const users: Record<string, { password: string; roles: NodeId[] }> = {
  security: { password: "security-password", roles: [securityAdmin] },
  operator: { password: "operator-password", roles: [] },
};

/**
 * installServerConfiguration on a plain node-opcua server with its defaults: node-opcua's own user
 * manager decides who is SecurityAdmin. GetCertificates (1.05) is added to the address space first,
 * as a newer NodeSet has it, to prove it is bound when present.
 */
describe("installServerConfiguration on a plain node-opcua server (default authorization, GetCertificates)", () => {
  let folder: string;
  let server: OPCUAServer;
  let endpointUrl: string;
  const errors: string[] = [];

  before(async () => {
    folder = await tempDir("install");
    const manager = new OPCUACertificateManager({ rootFolder: path.join(folder, "pki"), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
    server = new OPCUAServer({
      port: 0,
      host: "127.0.0.1",
      hostname: "127.0.0.1",
      nodeset_filename: [nodesets.standard],
      serverInfo: { applicationUri: "urn:opcua-gds:test:plain-server" },
      serverCertificateManager: manager,
      userCertificateManager: manager,
      securityModes: [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
      securityPolicies: SECURITY_POLICIES,
      userManager: {
        isValidUser: (userName: string, password: string) => users[userName]?.password === password,
        getUserRoles: (userName: string) => users[userName]?.roles ?? [],
      },
    });
    assert.throws(() => installServerConfiguration(server), /initialize/);
    await server.initialize();
    const addressSpace = server.engine.addressSpace!;
    const configuration = addressSpace.findNode(SC.object) as UAObject;
    if (!configuration.getMethodByName("GetCertificates")) {
      addressSpace.getDefaultNamespace().addMethod(configuration, {
        nodeId: `ns=0;i=${GET_CERTIFICATES}`,
        browseName: "GetCertificates",
        inputArguments: [{ name: "CertificateGroupId", dataType: DataType.NodeId, valueRank: -1 }],
        outputArguments: [
          { name: "CertificateTypeIds", dataType: DataType.NodeId, valueRank: 1 },
          { name: "Certificates", dataType: DataType.ByteString, valueRank: 1 },
        ],
      });
    }
    installServerConfiguration(server, { logError: (m) => errors.push(m) });
    await server.start();
    endpointUrl = server.getEndpointUrl();
  });
  after(async () => {
    await server?.shutdown(0);
    await disposePushClientStores();
    await fs.rm(folder, { recursive: true, force: true });
    assert.deepEqual(errors, [], "nothing was logged as an internal failure");
  });

  it("a user without SecurityAdmin gets BadUserAccessDenied, SecurityAdmin on a Sign-only channel BadSecurityModeInsufficient", async () => {
    await withPushSession(endpointUrl, { user: { userName: "operator", password: users.operator.password } }, async (session) => {
      await assert.rejects(createSigningRequest(session, false), failsWith(StatusCodes.BadUserAccessDenied));
      await assert.rejects(call(session, SC.object, SC.GetRejectedList), failsWith(StatusCodes.BadUserAccessDenied));
    });
    await withPushSession(endpointUrl, { user: { userName: "security", password: users.security.password }, mode: MessageSecurityMode.Sign }, async (session) => {
      await assert.rejects(createSigningRequest(session, false), failsWith(StatusCodes.BadSecurityModeInsufficient));
    });
  });

  it("GetCertificates answers the group's one type and the certificate in use; another group is BadInvalidArgument", async () => {
    const presented = await presentedCertificate(endpointUrl);
    await withPushSession(endpointUrl, { user: { userName: "security", password: users.security.password } }, async (session) => {
      const method = `ns=0;i=${GET_CERTIFICATES}`;
      const [types, certificates] = await call(session, SC.object, method, [{ dataType: DataType.NodeId, value: new NodeId() }]);
      assert.deepEqual((types.value as NodeId[]).map(String), ["ns=0;i=12560"]);
      assert.deepEqual(certificates.value, [presented]);
      await assert.rejects(call(session, SC.object, method, [{ dataType: DataType.NodeId, value: NodeId.resolveNodeId("ns=0;i=14088") }]), failsWith(StatusCodes.BadInvalidArgument));
    });
  });
});
