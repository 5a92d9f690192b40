import "reflect-metadata";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AttributeIds,
  BrowseDirection,
  DataType,
  MessageSecurityMode,
  NodeClass,
  NodeId,
  StatusCodes,
  type Argument,
  type CallMethodResult,
  type ClientSession,
  type StatusCode,
  type VariantLike,
} from "node-opcua";
import { CertificateClient } from "../../src/client/directory-client";
import { OPCUA_GDS_NAMESPACE_URI } from "../../src/opcua/request-administration";
import { makeCsr, testKeyPair } from "../helpers/certificates";
import { BACKENDS } from "../helpers/databases";
import { ADMIN_PASSWORD, startTestGds, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory, type ClientOptions } from "../helpers/opcua-client";
import { serverRecord } from "../helpers/records";
import { withStatus } from "../helpers/status";

const admin: ClientOptions = { user: { userName: "admin", password: ADMIN_PASSWORD } };
const approver: ClientOptions = { user: { userName: "approver", password: "approver-password" } };
/** Every role but RegistrationAuthorityAdmin: may ask for certificates, not decide on them. */
const requesterOnly: ClientOptions = { user: { userName: "requester", password: "requester-password" } };
const UNKNOWN_REQUEST = "ns=1;g=00000000-0000-4000-8000-0000000000ad";

type DeskMethod = "ListRequests" | "ApproveRequest" | "RejectRequest";

/** The CertificateRequests object as a client finds it: browsed from Objects, by namespace URI. */
interface Desk {
  objectId: NodeId;
  methodIds: Record<DeskMethod, NodeId>;
  call(method: DeskMethod, inputArguments: VariantLike[]): Promise<CallMethodResult>;
}

async function openDesk(session: ClientSession): Promise<Desk> {
  const namespaces = (await session.read({ nodeId: "i=2255", attributeId: AttributeIds.Value })).value.value as string[];
  const ns = namespaces.indexOf(OPCUA_GDS_NAMESPACE_URI);
  assert.ok(ns > 0, `${OPCUA_GDS_NAMESPACE_URI} is in the NamespaceArray`);
  const objects = await session.browse({ nodeId: "i=85", browseDirection: BrowseDirection.Forward, referenceTypeId: "HierarchicalReferences", includeSubtypes: true, resultMask: 63 });
  const object = objects.references?.find((r) => r.browseName.namespaceIndex === ns && r.browseName.name === "CertificateRequests");
  assert.ok(object, "Objects organizes CertificateRequests");
  const objectId = object.nodeId as unknown as NodeId;
  const children = await session.browse({ nodeId: objectId, browseDirection: BrowseDirection.Forward, referenceTypeId: "HasComponent", includeSubtypes: true, resultMask: 63 });
  const methodIds = {} as Record<DeskMethod, NodeId>;
  for (const r of children.references ?? []) {
    if (r.nodeClass === NodeClass.Method && r.browseName.namespaceIndex === ns) methodIds[r.browseName.name as DeskMethod] = r.nodeId as unknown as NodeId;
  }
  assert.deepEqual(Object.keys(methodIds).sort(), ["ApproveRequest", "ListRequests", "RejectRequest"]);
  return { objectId, methodIds, call: (method, inputArguments) => session.call({ objectId, methodId: methodIds[method], inputArguments }) };
}

function assertStatus(result: CallMethodResult, expected: StatusCode): void {
  assert.equal(result.statusCode.toString(), expected.toString());
}

const nodeIdArg = (id: string): VariantLike => ({ dataType: DataType.NodeId, value: NodeId.resolveNodeId(id) });

/** ListRequests as rows (its outputs are parallel arrays). */
async function listRequests(desk: Desk, pendingOnly: boolean) {
  const result = await desk.call("ListRequests", [{ dataType: DataType.Boolean, value: pendingOnly }]);
  assertStatus(result, StatusCodes.Good);
  const [ids, apps, states, kinds, by, at] = result.outputArguments!.map((v) => Array.from(v.value as unknown[]));
  assert.ok([apps, states, kinds, by, at].every((a) => a.length === ids.length), "parallel arrays of one length");
  return ids.map((id, i) => ({
    requestId: (id as NodeId).toString(),
    applicationId: (apps[i] as NodeId).toString(),
    state: states[i] as string,
    kind: kinds[i] as string,
    requestedBy: by[i] as string,
    createdAt: at[i] as Date,
  }));
}

for (const backend of BACKENDS) {
  describe(`request administration over OPC UA (${backend})`, () => {
    let gds: TestGds;
    let shared: { keys: CryptoKeyPair; privateKeyPem: string };

    /** Registers an application (as admin) and makes one CSR request for it, which waits (manual approval). */
    async function pendingRequest(name: string): Promise<{ applicationId: string; requestId: string }> {
      return withDirectory(gds, admin, async (d) => {
        const applicationId = await d.registerApplication(serverRecord(name));
        const requestId = await new CertificateClient(d).startSigningRequest(applicationId, await makeCsr(shared.keys, { uri: `urn:plant1:line${name}:plc` }));
        return { applicationId, requestId };
      });
    }

    before(async () => {
      gds = await startTestGds(backend, undefined, { approval: "manual" });
      shared = await testKeyPair();
      await gds.gds.services.users.addUser("test", "approver", ["RegistrationAuthorityAdmin"], "approver-password");
      await gds.gds.services.users.addUser("test", "requester", ["SecurityAdmin", "DiscoveryAdmin", "CertificateAuthorityAdmin"], "requester-password");
    });
    after(async () => {
      await gds?.stop();
      await disposeClientStores();
    });

    it("the CertificateRequests object and its methods are described, and their arguments readable, in urn:opcua-gds:model", async () => {
      await withDirectory(gds, approver, async (_d, session) => {
        const desk = await openDesk(session);
        for (const nodeId of [desk.objectId, ...Object.values(desk.methodIds)]) {
          const description = (await session.read({ nodeId, attributeId: AttributeIds.Description })).value.value as { text?: string } | null;
          assert.ok(description?.text && description.text.length > 20, `${nodeId.toString()} has a Description`);
        }
        const approve = await session.getArgumentDefinition(desk.methodIds.ApproveRequest);
        assert.deepEqual((approve.inputArguments as Argument[]).map((a) => [a.name, a.dataType.toString(), a.valueRank]), [["RequestId", "ns=0;i=17", -1]]);
        const list = await session.getArgumentDefinition(desk.methodIds.ListRequests);
        assert.deepEqual((list.outputArguments as Argument[]).map((a) => a.name), ["RequestIds", "ApplicationIds", "States", "Kinds", "RequestedBy", "CreatedAt"]);
        const reject = await session.getArgumentDefinition(desk.methodIds.RejectRequest);
        assert.deepEqual((reject.inputArguments as Argument[]).map((a) => a.name), ["RequestId", "Reason"]);
      });
    });

    it("a RegistrationAuthorityAdmin lists a pending request and approves it; FinishRequest then delivers, and approving again answers Bad_InvalidState", async () => {
      const startedAt = Date.now();
      const { applicationId, requestId } = await pendingRequest("raapprove");
      await withDirectory(gds, approver, async (_d, session) => {
        const desk = await openDesk(session);
        const pending = (await listRequests(desk, true)).find((r) => r.requestId === requestId);
        assert.ok(pending, "the request is listed as pending, under the RequestId StartSigningRequest returned");
        assert.equal(pending.applicationId, applicationId);
        assert.equal(pending.state, "New");
        assert.equal(pending.kind, "SigningRequest");
        assert.equal(pending.requestedBy, "admin");
        assert.ok(Math.abs(pending.createdAt.getTime() - startedAt) < 60_000, "CreatedAt is the time of the request");

        assertStatus(await desk.call("ApproveRequest", [nodeIdArg(requestId)]), StatusCodes.Good);
        assert.equal((await listRequests(desk, true)).find((r) => r.requestId === requestId), undefined, "no longer pending");
        assert.equal((await listRequests(desk, false)).find((r) => r.requestId === requestId)?.state, "Approved");
        assertStatus(await desk.call("ApproveRequest", [nodeIdArg(requestId)]), StatusCodes.BadInvalidState);
      });
      await withDirectory(gds, admin, async (d) => {
        assert.ok((await new CertificateClient(d).finishRequest(applicationId, requestId)).certificate.length > 0, "the approved certificate is delivered");
      });
      const decided = await gds.gds.services.certificates.getRequest(requestId.split("g=")[1].toLowerCase());
      assert.equal(decided.decidedBy, "approver", "the decision is recorded under the approver's name");
      await withDirectory(gds, approver, async (_d, session) => {
        assertStatus(await (await openDesk(session)).call("ApproveRequest", [nodeIdArg(requestId)]), StatusCodes.BadInvalidState);
      });
    });

    it("RejectRequest rejects a pending request: FinishRequest answers Bad_RequestNotAllowed, and a second decision Bad_InvalidState", async () => {
      const { applicationId, requestId } = await pendingRequest("rareject");
      await withDirectory(gds, approver, async (_d, session) => {
        const desk = await openDesk(session);
        assertStatus(await desk.call("RejectRequest", [nodeIdArg(requestId), { dataType: DataType.String, value: "unknown device" }]), StatusCodes.Good);
        assert.equal((await listRequests(desk, false)).find((r) => r.requestId === requestId)?.state, "Rejected");
        assertStatus(await desk.call("RejectRequest", [nodeIdArg(requestId), { dataType: DataType.String, value: "" }]), StatusCodes.BadInvalidState);
        assertStatus(await desk.call("ApproveRequest", [nodeIdArg(requestId)]), StatusCodes.BadInvalidState);
      });
      await withDirectory(gds, admin, async (d) => {
        await assert.rejects(new CertificateClient(d).finishRequest(applicationId, requestId), withStatus(StatusCodes.BadRequestNotAllowed));
      });
      assert.equal((await gds.gds.services.certificates.getRequest(requestId.split("g=")[1].toLowerCase())).rejectReason, "unknown device");
    });

    it("an unknown RequestId answers Bad_NotFound, a RequestId that is not a GUID NodeId Bad_InvalidArgument", async () => {
      await withDirectory(gds, approver, async (_d, session) => {
        const desk = await openDesk(session);
        assertStatus(await desk.call("ApproveRequest", [nodeIdArg(UNKNOWN_REQUEST)]), StatusCodes.BadNotFound);
        assertStatus(await desk.call("RejectRequest", [nodeIdArg(UNKNOWN_REQUEST), { dataType: DataType.String, value: "x" }]), StatusCodes.BadNotFound);
        assertStatus(await desk.call("ApproveRequest", [nodeIdArg("ns=1;i=42")]), StatusCodes.BadInvalidArgument);
        assertStatus(await desk.call("RejectRequest", [nodeIdArg("ns=1;s=some-request"), { dataType: DataType.String, value: "x" }]), StatusCodes.BadInvalidArgument);
      });
    });

    it("the desk needs RegistrationAuthorityAdmin on SignAndEncrypt: other users and anonymous get Bad_UserAccessDenied, a Sign-only channel Bad_SecurityModeInsufficient", async () => {
      const { requestId } = await pendingRequest("raacl");
      const refusedWith = async (options: ClientOptions, expected: StatusCode) =>
        withDirectory(gds, options, async (_d, session) => {
          const desk = await openDesk(session);
          assertStatus(await desk.call("ListRequests", [{ dataType: DataType.Boolean, value: true }]), expected);
          assertStatus(await desk.call("ApproveRequest", [nodeIdArg(requestId)]), expected);
          assertStatus(await desk.call("RejectRequest", [nodeIdArg(requestId), { dataType: DataType.String, value: "no" }]), expected);
        });
      await refusedWith(requesterOnly, StatusCodes.BadUserAccessDenied);
      await refusedWith({}, StatusCodes.BadUserAccessDenied);
      await refusedWith({ ...approver, mode: MessageSecurityMode.Sign }, StatusCodes.BadSecurityModeInsufficient);
      assert.equal((await gds.gds.services.certificates.getRequest(requestId.split("g=")[1].toLowerCase())).state, "New", "no refused call decided anything");
    });
  });
}
