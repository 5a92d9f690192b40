import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AttributeIds, BrowseDirection, DataType, MessageSecurityMode, NodeClass, NodeId, StatusCodes, VariantArrayType, type Argument, type ClientSession, type VariantLike } from "node-opcua";
import { ApplicationType } from "../../src/domain/application";
import { BACKENDS } from "../helpers/databases";
import { ADMIN_PASSWORD, startTestGds, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../helpers/opcua-client";
import { clientRecord, serverRecord } from "../helpers/records";
import { withStatus } from "../helpers/status";

const admin = { user: { userName: "admin", password: ADMIN_PASSWORD } };

/** Every method below a node (its objects' too), with its parent and InputArguments property. */
async function methodsBelow(session: ClientSession, root: NodeId): Promise<Array<{ name: string; parentId: NodeId; methodId: NodeId; inputArgumentsId: NodeId | null }>> {
  const found: Array<{ name: string; parentId: NodeId; methodId: NodeId; inputArgumentsId: NodeId | null }> = [];
  const visit = async (nodeId: NodeId) => {
    const r = await session.browse({ nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: "HierarchicalReferences", includeSubtypes: true, nodeClassMask: NodeClass.Object | NodeClass.Method, resultMask: 63 });
    for (const ref of r.references ?? []) {
      const child = NodeId.resolveNodeId(ref.nodeId.toString());
      if (ref.nodeClass === NodeClass.Method) {
        const props = await session.browse({ nodeId: child, browseDirection: BrowseDirection.Forward, referenceTypeId: "HasProperty", resultMask: 63 });
        const input = (props.references ?? []).find((p) => p.browseName.name === "InputArguments");
        found.push({ name: ref.browseName.name ?? "", parentId: nodeId, methodId: child, inputArgumentsId: input ? NodeId.resolveNodeId(input.nodeId.toString()) : null });
      } else await visit(child);
    }
  };
  await visit(root);
  return found;
}

/** A default value of an argument's declared type: null NodeId, 0, "", empty ByteString, empty array. */
function defaultVariant(a: Argument): VariantLike {
  const type = a.dataType.namespace === 0 ? (a.dataType.value as number) : -1;
  const scalar: Record<number, [DataType, unknown]> = {
    1: [DataType.Boolean, false],
    3: [DataType.Byte, 0],
    5: [DataType.UInt16, 0],
    6: [DataType.Int32, 0],
    7: [DataType.UInt32, 0],
    9: [DataType.UInt64, [0, 0]],
    12: [DataType.String, ""],
    13: [DataType.DateTime, new Date(0)],
    15: [DataType.ByteString, Buffer.alloc(0)],
    17: [DataType.NodeId, NodeId.nullNodeId],
  };
  const [dataType, value] = scalar[type] ?? [DataType.ExtensionObject, null];
  if (a.valueRank >= 1) return { dataType, arrayType: VariantArrayType.Array, value: [] };
  return { dataType, arrayType: VariantArrayType.Scalar, value };
}

for (const backend of BACKENDS) {
  describe(`Directory over SignAndEncrypt (${backend})`, () => {
    let gds: TestGds;
    before(async () => {
      gds = await startTestGds(backend);
    });
    after(async () => {
      await gds?.stop();
      await disposeClientStores();
    });

    it("RegisterApplication returns a GUID ApplicationId that FindApplications and GetApplication return", async () => {
      await withDirectory(gds, admin, async (d) => {
        const id = await d.registerApplication(serverRecord(1));
        assert.match(id, /^ns=1;g=[0-9a-f-]{36}$/i);
        const found = await d.findApplications("urn:plant1:line1:plc");
        assert.equal(found.length, 1);
        assert.equal(found[0].applicationId.toLowerCase(), id.toLowerCase());
        assert.deepEqual(found[0].discoveryUrls, ["opc.tcp://plc1.plant1:4840"]);
        const got = await d.getApplication(id);
        assert.equal(got.applicationUri, "urn:plant1:line1:plc");
        assert.equal(got.applicationType, ApplicationType.Server);
        assert.deepEqual(got.applicationNames, [{ locale: "en", text: "PLC 1" }]);
        assert.deepEqual(got.serverCapabilities, ["DA"]);
      });
    });

    it("RegisterApplication with an ApplicationUri already registered returns Bad_EntryExists", async () => {
      await withDirectory(gds, admin, async (d) => {
        await d.registerApplication(serverRecord(2));
        await assert.rejects(d.registerApplication(serverRecord(2, { productUri: "urn:other" })), withStatus(StatusCodes.BadEntryExists));
        assert.equal((await d.findApplications("urn:plant1:line2:plc")).length, 1);
      });
    });

    it("UpdateApplication changes the record and Bad_WriteNotSupported refuses a new ApplicationUri", async () => {
      await withDirectory(gds, admin, async (d) => {
        const id = await d.registerApplication(serverRecord(3));
        await d.updateApplication(id, serverRecord(3, { applicationNames: [{ locale: "de", text: "SPS 3" }], serverCapabilities: ["DA", "HD"] }));
        const got = await d.getApplication(id);
        assert.deepEqual(got.applicationNames, [{ locale: "de", text: "SPS 3" }]);
        assert.deepEqual(got.serverCapabilities, ["DA", "HD"]);
        await assert.rejects(d.updateApplication(id, serverRecord("3b")), withStatus(StatusCodes.BadWriteNotSupported));
        assert.equal((await d.getApplication(id)).applicationUri, "urn:plant1:line3:plc");
      });
    });

    it("UnregisterApplication removes the record; a second time answers Bad_NotFound", async () => {
      await withDirectory(gds, admin, async (d) => {
        const id = await d.registerApplication(serverRecord(4));
        await d.unregisterApplication(id);
        assert.deepEqual(await d.findApplications("urn:plant1:line4:plc"), []);
        await assert.rejects(d.getApplication(id), withStatus(StatusCodes.BadNotFound));
        await assert.rejects(d.unregisterApplication(id), withStatus(StatusCodes.BadNotFound));
        await assert.rejects(d.updateApplication(id, serverRecord(4)), withStatus(StatusCodes.BadNotFound));
      });
    });

    it("GetApplication of an unknown or foreign NodeId answers Bad_NotFound", async () => {
      await withDirectory(gds, admin, async (d) => {
        await assert.rejects(d.getApplication("ns=1;g=00000000-0000-4000-8000-000000000001"), withStatus(StatusCodes.BadNotFound));
        await assert.rejects(d.getApplication("ns=1;i=42"), withStatus(StatusCodes.BadNotFound));
      });
    });

    it("invalid records answer Bad_InvalidArgument and store nothing", async () => {
      await withDirectory(gds, admin, async (d) => {
        const bad = [
          serverRecord("r1", { applicationUri: "not a uri" }),
          serverRecord("r2", { applicationNames: [] }),
          serverRecord("r3", { productUri: "" }),
          serverRecord("r4", { discoveryUrls: [] }),
          clientRecord("r5", { discoveryUrls: ["opc.tcp://h:4840"] }),
          serverRecord("r6", { discoveryUrls: ["ftp://h"] }),
          serverRecord("r7", { applicationType: 7 as ApplicationType }),
        ];
        for (const record of bad) {
          await assert.rejects(d.registerApplication(record), withStatus(StatusCodes.BadInvalidArgument), record.applicationUri);
        }
        const all = await d.queryApplications({ applicationUri: "urn:plant1:liner%" });
        assert.equal(all.applications.length, 0);
      });
    });

    it("QueryApplications filters with patterns, types and capabilities (AND) and pages by record id", async () => {
      await withDirectory(gds, admin, async (d) => {
        for (let i = 0; i < 7; i++) await d.registerApplication(serverRecord(`q${i}`, { productUri: "urn:vendor:q", serverCapabilities: i % 2 ? ["DA", "HD"] : ["DA"] }));
        await d.registerApplication(clientRecord("q"));
        const all = await d.queryApplications({ productUri: "urn:vendor:q" });
        assert.equal(all.applications.length, 7);
        assert.equal(all.nextRecordId, 0);
        assert.ok(all.lastCounterResetTime instanceof Date);

        const hd = await d.queryApplications({ productUri: "urn:vendor:q", capabilities: ["HD", "DA"] });
        assert.deepEqual(hd.applications.map((a) => a.applicationUri), ["urn:plant1:lineq1:plc", "urn:plant1:lineq3:plc", "urn:plant1:lineq5:plc"]);

        const pattern = await d.queryApplications({ applicationUri: "urn:plant1:lineq[13]:%" });
        assert.deepEqual(pattern.applications.map((a) => a.applicationUri), ["urn:plant1:lineq1:plc", "urn:plant1:lineq3:plc"]);
        const single = await d.queryApplications({ applicationName: "PLC q_" , productUri: "urn:vendor:_" });
        assert.equal(single.applications.length, 7);

        assert.deepEqual((await d.queryApplications({ applicationUri: "urn:plant1:scada%", applicationType: 2 })).applications.map((a) => a.applicationUri), ["urn:plant1:scadaq"]);
        assert.equal((await d.queryApplications({ applicationUri: "urn:plant1:scada%", applicationType: 1 })).applications.length, 0);

        const seen: string[] = [];
        let start = 0;
        for (let page = 0; page < 10; page++) {
          const r = await d.queryApplications({ productUri: "urn:vendor:q", maxRecordsToReturn: 3, startingRecordId: start });
          seen.push(...r.applications.map((a) => String(a.applicationUri)));
          if (r.nextRecordId === 0) break;
          start = r.nextRecordId;
        }
        assert.equal(seen.length, 7);
        assert.equal(new Set(seen).size, 7);
      });
    });

    it("an updated record moves behind every older record in QueryApplications order", async () => {
      await withDirectory(gds, admin, async (d) => {
        const first = await d.registerApplication(serverRecord("o1", { productUri: "urn:vendor:order" }));
        await d.registerApplication(serverRecord("o2", { productUri: "urn:vendor:order" }));
        await d.updateApplication(first, serverRecord("o1", { productUri: "urn:vendor:order" }));
        const r = await d.queryApplications({ productUri: "urn:vendor:order" });
        assert.deepEqual(r.applications.map((a) => a.applicationUri), ["urn:plant1:lineo2:plc", "urn:plant1:lineo1:plc"]);
      });
    });

    it("QueryServers returns one ServerOnNetwork per DiscoveryUrl of servers only", async () => {
      await withDirectory(gds, admin, async (d) => {
        await d.registerApplication(serverRecord("s1", { productUri: "urn:vendor:s", discoveryUrls: ["opc.tcp://a:4840", "opc.tcp://b:4840"] }));
        await d.registerApplication(serverRecord("s2", { productUri: "urn:vendor:s" }));
        await d.registerApplication(clientRecord("s", { productUri: "urn:vendor:s" }));
        const r = await d.queryServers({ productUri: "urn:vendor:s" });
        assert.deepEqual(r.servers.map((s) => s.discoveryUrl), ["opc.tcp://a:4840", "opc.tcp://b:4840", "opc.tcp://plcs2.plant1:4840"]);
        assert.equal(r.servers[0].recordId, r.servers[1].recordId);
        assert.equal(r.servers[0].serverName, "PLC s1");
        const page = await d.queryServers({ productUri: "urn:vendor:s", maxRecordsToReturn: 2 });
        assert.equal(page.servers.length, 2);
        const rest = await d.queryServers({ productUri: "urn:vendor:s", startingRecordId: page.servers[1].recordId });
        assert.deepEqual(rest.servers.map((s) => s.discoveryUrl), ["opc.tcp://plcs2.plant1:4840"]);
      });
    });

    it("Find and Query are open to an anonymous session; changes are not", async () => {
      await withDirectory(gds, {}, async (d) => {
        assert.equal((await d.findApplications("urn:plant1:line1:plc")).length, 1);
        assert.ok((await d.queryApplications({})).applications.length > 0);
        await assert.rejects(d.registerApplication(serverRecord("anon")), withStatus(StatusCodes.BadUserAccessDenied));
      });
    });

    it("a Sign-only channel may change the directory; the None security policy has no session endpoint", async () => {
      await withDirectory(gds, { ...admin, mode: MessageSecurityMode.Sign }, async (d) => {
        await d.registerApplication(serverRecord("sign"));
      });
    });

    it("every session can read the argument definitions of the Directory methods (UaExpert builds its call dialog from them)", async () => {
      for (const options of [{}, admin]) {
        await withDirectory(gds, options, async (d, session) => {
          for (const [method, inputArgumentsId] of [["RegisterApplication", 147], ["QueryApplications", 993], ["StartSigningRequest", 158]] as const) {
            const dv = await session.read({ nodeId: d.nodeId(inputArgumentsId), attributeId: AttributeIds.Value });
            assert.equal(dv.statusCode.value, StatusCodes.Good.value, `${method}: ${dv.statusCode.toString()}`);
            assert.ok((dv.value.value as unknown[]).length > 0);
          }
        });
      }
    });

    it("every method below the Directory is bound: called with default arguments none answers Bad_InternalError", async () => {
      await withDirectory(gds, admin, async (d, session) => {
        const methods = await methodsBelow(session, d.nodeId(141));
        assert.ok(methods.length >= 16 + 3 * 10, `found ${methods.length} methods`);
        for (const m of methods) {
          const dv = await session.read({ nodeId: m.inputArgumentsId ?? "i=0", attributeId: AttributeIds.Value });
          const args = m.inputArgumentsId ? ((dv.value.value as Argument[]) ?? []) : [];
          const r = await session.call({ objectId: m.parentId, methodId: m.methodId, inputArguments: args.map(defaultVariant) });
          assert.notEqual(r.statusCode.value, StatusCodes.BadInternalError.value, `${m.name}: ${r.statusCode.toString()}`);
        }
      });
    });
  });
}
