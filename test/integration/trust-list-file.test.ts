import "reflect-metadata";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  AttributeIds,
  BinaryStream,
  DataType,
  MessageSecurityMode,
  NodeId,
  OPCUACertificateManager,
  OPCUAClient,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  VariantArrayType,
  nodesets,
  type ClientSession,
  type StatusCode,
  type UAObject,
  type VariantLike,
} from "node-opcua";
import { TrustListDataType } from "node-opcua-types";
import { CertificateAuthority, generateRsaKeyPair } from "../../src/ca/certificate-authority";
import { systemClock } from "../../src/domain/clock";
import { GdsError } from "../../src/domain/errors";
import { bindReadOnlyTrustList, encodeTrustList, type TrustListContent } from "../../src/opcua/trust-list-file";

const GDS_URI = "http://opcfoundation.org/UA/GDS/";
/** DefaultApplicationGroup, DefaultHttpsGroup and DefaultUserTokenGroup TrustLists in the GDS NodeSet. */
const APP_TRUST_LIST = 616;
const DENIED_TRUST_LIST = 650;
const FAILING_TRUST_LIST = 684;
const MAX_HANDLES = 8;

/** A few real certificates and CRLs: two CAs, a leaf of each, a CRL of each. */
async function makeContent(root: string): Promise<TrustListContent> {
  const caOptions = { keySize: 2048 as const, lifetimeDays: 30 };
  const ca1 = await CertificateAuthority.loadOrCreate(path.join(root, "ca1"), { ...caOptions, subject: "CN=Test CA 1, O=opcua-gds" }, systemClock);
  const ca2 = await CertificateAuthority.loadOrCreate(path.join(root, "ca2"), { ...caOptions, subject: "CN=Test CA 2, O=opcua-gds" }, systemClock);
  const leaf = async (ca: CertificateAuthority, n: number) => {
    const keys = await generateRsaKeyPair(2048);
    const cert = await ca.issueApplicationCertificate(keys.publicKey, {
      subject: `CN=Device ${n}, O=Plant`,
      applicationUri: `urn:plant1:device${n}`,
      dnsNames: [`device${n}.plant1`],
      ipAddresses: ["10.0.0.1"],
      lifetimeDays: 10,
      backdateSeconds: 60,
    });
    return Buffer.from(cert.rawData);
  };
  const now = Date.now();
  const crl1 = await ca1.signCrl([{ serialHex: "0a1b2c3d", revokedAtMs: now - 1000 }], 1, now, now + 86400_000);
  const crl2 = await ca2.signCrl([], 1, now, now + 86400_000);
  return {
    trustedCertificates: [await leaf(ca1, 1), await leaf(ca2, 2)],
    trustedCrls: [Buffer.from(crl1.rawData)],
    issuerCertificates: [ca1.certificateDer, ca2.certificateDer],
    issuerCrls: [Buffer.from(crl1.rawData), Buffer.from(crl2.rawData)],
  };
}

function decode(data: Buffer): TrustListDataType {
  const value = new TrustListDataType();
  value.decode(new BinaryStream(data));
  return value;
}

function assertContent(decoded: TrustListDataType, expected: TrustListContent, masks: number): void {
  assert.equal(decoded.specifiedLists, masks);
  const pick = (bit: number, list: Buffer[]) => ((masks & bit) !== 0 ? list : []);
  const same = (actual: Buffer[] | null, wanted: Buffer[]) => assert.deepEqual((actual ?? []).map((b) => b.toString("hex")), wanted.map((b) => b.toString("hex")));
  same(decoded.trustedCertificates, pick(1, expected.trustedCertificates));
  same(decoded.trustedCrls, pick(2, expected.trustedCrls));
  same(decoded.issuerCertificates, pick(4, expected.issuerCertificates));
  same(decoded.issuerCrls, pick(8, expected.issuerCrls));
}

/** Calls the TrustList's methods by BrowseName, resolved once per session by browsing. */
class TrustListCaller {
  private constructor(
    readonly session: ClientSession,
    readonly objectId: NodeId,
    private readonly methods: Map<string, NodeId>,
    private readonly properties: Map<string, NodeId>,
  ) {}

  static async create(session: ClientSession, id: number): Promise<TrustListCaller> {
    const ns = (await session.readNamespaceArray()).indexOf(GDS_URI);
    assert.ok(ns > 0, "the GDS namespace is served");
    const objectId = new NodeId(NodeId.NodeIdType.NUMERIC, id, ns);
    const result = await session.browse({ nodeId: objectId, referenceTypeId: "HierarchicalReferences", includeSubtypes: true, browseDirection: 0, resultMask: 63 });
    assert.equal(result.statusCode.value, StatusCodes.Good.value);
    const methods = new Map<string, NodeId>();
    const properties = new Map<string, NodeId>();
    for (const ref of result.references ?? []) {
      const name = ref.browseName.name ?? "";
      if (ref.nodeClass === 4 /* Method */) methods.set(name, ref.nodeId);
      else if (ref.nodeClass === 2 /* Variable */) properties.set(name, ref.nodeId);
    }
    return new TrustListCaller(session, objectId, methods, properties);
  }

  /** Calls `name`; returns the status and the output values. */
  async call(name: string, inputArguments: VariantLike[] = []): Promise<{ statusCode: StatusCode; outputs: unknown[] }> {
    const methodId = this.methods.get(name);
    assert.ok(methodId, `method ${name} is browsable`);
    const result = await this.session.call({ objectId: this.objectId, methodId, inputArguments });
    return { statusCode: result.statusCode, outputs: (result.outputArguments ?? []).map((v) => v.value) };
  }

  /** Calls `name` and insists on Good. */
  async ok(name: string, inputArguments: VariantLike[] = []): Promise<unknown[]> {
    const { statusCode, outputs } = await this.call(name, inputArguments);
    assert.equal(statusCode.toString(), StatusCodes.Good.toString(), `${name} failed`);
    return outputs;
  }

  async status(name: string, inputArguments: VariantLike[] = []): Promise<StatusCode> {
    return (await this.call(name, inputArguments)).statusCode;
  }

  async open(mode = 0x01): Promise<number> {
    return (await this.ok("Open", [{ dataType: DataType.Byte, value: mode }]))[0] as number;
  }

  async openWithMasks(masks: number): Promise<number> {
    return (await this.ok("OpenWithMasks", [{ dataType: DataType.UInt32, value: masks }]))[0] as number;
  }

  async read(handle: number, length: number): Promise<Buffer> {
    const data = (await this.ok("Read", [handle32(handle), { dataType: DataType.Int32, value: length }]))[0];
    // At the end the answer is an empty ByteString (length 0), not a null one.
    assert.ok(Buffer.isBuffer(data), "Read answers a ByteString");
    return data;
  }

  /** Reads from the current position to the end, `chunk` bytes at a time. */
  async readToEnd(handle: number, chunk: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const data = await this.read(handle, chunk);
      if (data.length === 0) return Buffer.concat(parts);
      assert.ok(data.length <= chunk, "never more than Length bytes");
      parts.push(data);
    }
  }

  async close(handle: number): Promise<void> {
    await this.ok("Close", [handle32(handle)]);
  }

  async getPosition(handle: number): Promise<number> {
    return uint64((await this.ok("GetPosition", [handle32(handle)]))[0]);
  }

  async setPosition(handle: number, position: number): Promise<void> {
    await this.ok("SetPosition", [handle32(handle), { dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [Math.floor(position / 2 ** 32), position % 2 ** 32] }]);
  }

  /** Reads the value of the property `name`, whatever its status. */
  async readProperty(name: string): Promise<{ statusCode: StatusCode; value: unknown }> {
    const nodeId = this.properties.get(name);
    assert.ok(nodeId, `property ${name} is browsable`);
    const dv = await this.session.read({ nodeId, attributeId: AttributeIds.Value });
    return { statusCode: dv.statusCode, value: dv.value.value };
  }

  /** Reads the value of the property `name` and insists on Good. */
  async property(name: string): Promise<unknown> {
    const { statusCode, value } = await this.readProperty(name);
    assert.equal(statusCode.toString(), StatusCodes.Good.toString(), `reading ${name}`);
    return value;
  }
}

function handle32(handle: number): VariantLike {
  return { dataType: DataType.UInt32, value: handle };
}

function uint64(value: unknown): number {
  if (Array.isArray(value)) return value[0] * 2 ** 32 + value[1];
  return Number(value);
}

function assertStatus(actual: StatusCode, expected: StatusCode, what: string): void {
  assert.equal(actual.toString(), expected.toString(), what);
}

describe("read-only TrustList file objects (OPC 10000-12 §7.8.2, OPC 10000-20 FileType)", () => {
  let tmp: string;
  let server: OPCUAServer;
  let client: OPCUAClient;
  let sessionA: ClientSession;
  let sessionB: ClientSession;
  let a: TrustListCaller;
  let b: TrustListCaller;
  let content: TrustListContent;
  let served: TrustListContent;
  const loggedErrors: string[] = [];
  const managers: OPCUACertificateManager[] = [];

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), "opcua-gds-trust-list-"));
    content = await makeContent(path.join(tmp, "ca"));
    served = content;

    const manager = (name: string) => {
      const m = new OPCUACertificateManager({ rootFolder: path.join(tmp, name), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
      managers.push(m);
      return m;
    };
    server = new OPCUAServer({
      port: 0,
      host: "127.0.0.1",
      hostname: "127.0.0.1",
      nodeset_filename: [nodesets.standard, nodesets.gds],
      serverCertificateManager: manager("server-pki"),
      userCertificateManager: manager("user-pki"),
      securityModes: [MessageSecurityMode.SignAndEncrypt],
      securityPolicies: [SecurityPolicy.Basic256Sha256],
      allowAnonymous: true,
    });
    await server.initialize();
    const addressSpace = server.engine.addressSpace!;
    const ns = addressSpace.getNamespaceIndex(GDS_URI);
    assert.ok(ns > 0);
    const trustList = (id: number) => addressSpace.findNode(new NodeId(NodeId.NodeIdType.NUMERIC, id, ns)) as UAObject;
    const logError = (m: string) => loggedErrors.push(m);

    bindReadOnlyTrustList(trustList(APP_TRUST_LIST), {
      content: async () => served,
      authorize: async () => undefined,
      maxOpenHandlesPerSession: MAX_HANDLES,
      logError,
    });
    bindReadOnlyTrustList(trustList(DENIED_TRUST_LIST), {
      content: async () => served,
      authorize: async () => {
        throw new GdsError("UserAccessDenied", "not for you");
      },
      logError,
    });
    bindReadOnlyTrustList(trustList(FAILING_TRUST_LIST), {
      content: async () => {
        throw new Error("the store is down");
      },
      authorize: async () => undefined,
      logError,
    });
    await server.start();

    client = OPCUAClient.create({
      applicationName: "trust-list-file-test",
      securityMode: MessageSecurityMode.SignAndEncrypt,
      securityPolicy: SecurityPolicy.Basic256Sha256,
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      clientCertificateManager: manager("client-pki"),
    });
    await client.connect(server.getEndpointUrl());
    sessionA = await client.createSession();
    sessionB = await client.createSession();
    a = await TrustListCaller.create(sessionA, APP_TRUST_LIST);
    b = await TrustListCaller.create(sessionB, APP_TRUST_LIST);
  });

  after(async () => {
    await sessionA?.close().catch(() => undefined);
    await sessionB?.close().catch(() => undefined);
    await client?.disconnect().catch(() => undefined);
    await server?.shutdown(0).catch(() => undefined);
    for (const m of managers) await m.dispose().catch(() => undefined);
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it("a full read in chunks of 1, 7, 100 and 65536 bytes decodes to exactly the content", async () => {
    const expected = encodeTrustList(content, 15);
    for (const chunk of [1, 7, 100, 65536]) {
      const handle = await a.open();
      const data = await a.readToEnd(handle, chunk);
      assert.deepEqual(data, expected, `chunk ${chunk}`);
      assertContent(decode(data), content, 15);
      assert.equal((await a.read(handle, 10)).length, 0, "at the end Read answers an empty ByteString");
      await a.close(handle);
    }
  });

  it("OpenWithMasks(TrustedCrls) returns only the CRLs and SpecifiedLists = 2", async () => {
    const handle = await a.openWithMasks(2);
    const decoded = decode(await a.readToEnd(handle, 4096));
    await a.close(handle);
    assertContent(decoded, content, 2);
    assert.equal(decoded.trustedCrls?.length, 1);
    for (const masks of [16, 0x80000000]) {
      assertStatus(await a.status("OpenWithMasks", [{ dataType: DataType.UInt32, value: masks }]), StatusCodes.BadInvalidArgument, `masks ${masks}`);
    }
  });

  it("Size is the length of the full encoding; Writable and UserWritable are false; OpenCount counts handles", async () => {
    const expected = encodeTrustList(content, 15);
    assert.equal(uint64(await a.property("Size")), expected.length);
    assert.equal(await a.property("Writable"), false);
    assert.equal(await a.property("UserWritable"), false);
    assert.ok((await a.property("LastUpdateTime")) instanceof Date);
    const before = (await a.property("OpenCount")) as number;
    const h1 = await a.open();
    const h2 = await b.openWithMasks(1);
    assert.equal(await a.property("OpenCount"), before + 2);
    await a.close(h1);
    await b.close(h2);
    assert.equal(await a.property("OpenCount"), before);
  });

  it("GetPosition and SetPosition move the read position; reading again from 0 gives the same bytes", async () => {
    const handle = await a.open();
    assert.equal(await a.getPosition(handle), 0);
    const first = await a.read(handle, 100);
    assert.equal(await a.getPosition(handle), 100);
    const rest = await a.readToEnd(handle, 1000);
    const size = first.length + rest.length;
    assert.equal(await a.getPosition(handle), size);
    await a.setPosition(handle, 0);
    assert.deepEqual(await a.readToEnd(handle, 333), Buffer.concat([first, rest]));
    await a.setPosition(handle, 50);
    assert.deepEqual(await a.read(handle, 50), first.subarray(50, 100));
    // OPC 10000-20 §4.2.7: a position beyond the end sets the position to the end.
    await a.setPosition(handle, size + 1000);
    assert.equal(await a.getPosition(handle), size);
    assert.equal((await a.read(handle, 10)).length, 0);
    await a.close(handle);
  });

  it("an open handle reads the snapshot taken at Open, whatever the content does meanwhile", async () => {
    const handle = await a.open();
    const head = await a.read(handle, 10);
    served = { ...content, trustedCertificates: content.trustedCertificates.slice(0, 1) };
    try {
      const data = Buffer.concat([head, await a.readToEnd(handle, 500)]);
      assertContent(decode(data), content, 15);
      const fresh = await a.open();
      assertContent(decode(await a.readToEnd(fresh, 65536)), served, 15);
      assert.equal(uint64(await a.property("Size")), encodeTrustList(served, 15).length);
      await a.close(fresh);
    } finally {
      served = content;
      await a.close(handle);
    }
  });

  it("Open for writing answers Bad_NotWritable; other modes Bad_NotSupported or Bad_InvalidArgument", async () => {
    const open = (mode: number) => a.status("Open", [{ dataType: DataType.Byte, value: mode }]);
    for (const mode of [0x02, 0x03, 0x06, 0x07, 0x0a]) assertStatus(await open(mode), StatusCodes.BadNotWritable, `mode 0x${mode.toString(16)}`);
    for (const mode of [0x00, 0x04, 0x05, 0x08, 0x09]) assertStatus(await open(mode), StatusCodes.BadNotSupported, `mode 0x${mode.toString(16)}`);
    for (const mode of [0x11, 0x81, 0xf0]) assertStatus(await open(mode), StatusCodes.BadInvalidArgument, `mode 0x${mode.toString(16)}`);
    assert.equal(await a.property("OpenCount"), 0, "no handle leaked");
  });

  it("an unknown handle or a non-positive Length answers Bad_InvalidArgument", async () => {
    const unknown = 0x7fff_fff0;
    const len = (n: number): VariantLike => ({ dataType: DataType.Int32, value: n });
    assertStatus(await a.status("Read", [handle32(unknown), len(10)]), StatusCodes.BadInvalidArgument, "Read");
    assertStatus(await a.status("Close", [handle32(unknown)]), StatusCodes.BadInvalidArgument, "Close");
    assertStatus(await a.status("GetPosition", [handle32(unknown)]), StatusCodes.BadInvalidArgument, "GetPosition");
    assertStatus(await a.status("SetPosition", [handle32(unknown), { dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [0, 0] }]), StatusCodes.BadInvalidArgument, "SetPosition");
    const handle = await a.open();
    assertStatus(await a.status("Read", [handle32(handle), len(0)]), StatusCodes.BadInvalidArgument, "Length 0");
    assertStatus(await a.status("Read", [handle32(handle), len(-1)]), StatusCodes.BadInvalidArgument, "Length -1");
    await a.close(handle);
    assertStatus(await a.status("Read", [handle32(handle), len(10)]), StatusCodes.BadInvalidArgument, "Read after Close");
    assertStatus(await a.status("Close", [handle32(handle)]), StatusCodes.BadInvalidArgument, "Close twice");
  });

  it(`a session holds at most ${MAX_HANDLES} handles (Bad_TooManyOperations); the limit is per session`, async () => {
    const handles: number[] = [];
    for (let i = 0; i < MAX_HANDLES; i++) handles.push(i % 2 ? await a.open() : await a.openWithMasks(15));
    assert.equal(new Set(handles).size, MAX_HANDLES, "handles are distinct");
    assertStatus(await a.status("Open", [{ dataType: DataType.Byte, value: 1 }]), StatusCodes.BadTooManyOperations, "Open");
    assertStatus(await a.status("OpenWithMasks", [{ dataType: DataType.UInt32, value: 15 }]), StatusCodes.BadTooManyOperations, "OpenWithMasks");
    const other = await b.open();
    await b.close(other);
    await a.close(handles.pop()!);
    handles.push(await a.open());
    for (const h of handles) await a.close(h);
  });

  it("Write, CloseAndUpdate, AddCertificate and RemoveCertificate are refused", async () => {
    const handle = await a.open();
    const data: VariantLike = { dataType: DataType.ByteString, value: Buffer.from([1, 2, 3]) };
    assertStatus(await a.status("Write", [handle32(handle), data]), StatusCodes.BadInvalidState, "Write with a read handle");
    assertStatus(await a.status("Write", [handle32(0x7fff_fff1), data]), StatusCodes.BadInvalidArgument, "Write with an unknown handle");
    assertStatus(await a.status("CloseAndUpdate", [handle32(handle)]), StatusCodes.BadNotWritable, "CloseAndUpdate");
    assertStatus(await a.status("CloseAndUpdate", [handle32(0x7fff_fff1)]), StatusCodes.BadInvalidArgument, "CloseAndUpdate with an unknown handle");
    assertStatus(
      await a.status("AddCertificate", [{ dataType: DataType.ByteString, value: content.trustedCertificates[0] }, { dataType: DataType.Boolean, value: true }]),
      StatusCodes.BadNotWritable,
      "AddCertificate",
    );
    assertStatus(
      await a.status("RemoveCertificate", [{ dataType: DataType.String, value: "00".repeat(20) }, { dataType: DataType.Boolean, value: true }]),
      StatusCodes.BadNotWritable,
      "RemoveCertificate",
    );
    // The refused calls changed nothing: the handle still reads the whole list.
    assertContent(decode(await a.readToEnd(handle, 65536)), content, 15);
    await a.close(handle);
  });

  it("a handle opened in one session is unknown in another", async () => {
    const handle = await a.open();
    const len: VariantLike = { dataType: DataType.Int32, value: 10 };
    assertStatus(await b.status("Read", [handle32(handle), len]), StatusCodes.BadInvalidArgument, "Read");
    assertStatus(await b.status("GetPosition", [handle32(handle)]), StatusCodes.BadInvalidArgument, "GetPosition");
    assertStatus(await b.status("SetPosition", [handle32(handle), { dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [0, 5] }]), StatusCodes.BadInvalidArgument, "SetPosition");
    assertStatus(await b.status("Close", [handle32(handle)]), StatusCodes.BadInvalidArgument, "Close");
    assert.equal(await a.getPosition(handle), 0, "the other session moved nothing");
    assertContent(decode(await a.readToEnd(handle, 65536)), content, 15);
    await a.close(handle);
  });

  it("closing a session releases its handles", async () => {
    const session = await client.createSession();
    const c = await TrustListCaller.create(session, APP_TRUST_LIST);
    const before = (await a.property("OpenCount")) as number;
    await c.open();
    await c.openWithMasks(4);
    assert.equal(await a.property("OpenCount"), before + 2);
    await session.close();
    assert.equal(await a.property("OpenCount"), before);
  });

  it("authorize errors map through statusCodeOf; unexpected errors are logged and answer Bad_InternalError", async () => {
    const denied = await TrustListCaller.create(sessionA, DENIED_TRUST_LIST);
    assertStatus(await denied.status("Open", [{ dataType: DataType.Byte, value: 1 }]), StatusCodes.BadUserAccessDenied, "Open");
    assertStatus(await denied.status("Read", [handle32(1), { dataType: DataType.Int32, value: 1 }]), StatusCodes.BadUserAccessDenied, "Read");
    assertStatus(await denied.status("AddCertificate", [{ dataType: DataType.ByteString, value: Buffer.from([1]) }, { dataType: DataType.Boolean, value: true }]), StatusCodes.BadUserAccessDenied, "AddCertificate");
    assert.equal(loggedErrors.length, 0, "a refusal is not logged");

    const failing = await TrustListCaller.create(sessionA, FAILING_TRUST_LIST);
    assertStatus(await failing.status("Open", [{ dataType: DataType.Byte, value: 1 }]), StatusCodes.BadInternalError, "Open");
    assert.ok(loggedErrors.some((m) => m.includes("the store is down")), "the failure is logged");
    assertStatus((await failing.readProperty("Size")).statusCode, StatusCodes.BadInternalError, "Size of a failing trust list");
    assert.equal(await failing.property("OpenCount"), 0, "the failed Open holds no handle");
  });
});
