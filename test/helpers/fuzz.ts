/**
 * Hostile input for the GDS's methods, as fast-check arbitraries, and the oracle that judges the
 * answers. Shared by test/integration/hostile-input.test.ts (a sample) and bench/fuzz-bench.ts
 * (10,000 cases per method).
 *
 * The methods are found by browsing (Directory, the approval desk, the groups' TrustLists) with
 * their InputArguments and OutputArguments, so a method added later is fuzzed without change here.
 * A case is a plan (plain data, printable and shrinkable) turned into Variants only when called:
 * arguments of the declared type with hostile content (odd strings, invalid NodeIds, random,
 * truncated and mutated DER, CSRs with odd subjects, huge arrays), of a wrong type, deeply nested
 * Variant arrays and ExtensionObjects with undecodable bodies, and too few or too many arguments.
 * Every answer must be a Bad status other than BadInternalError, or a Good whose outputs have the
 * declared types; trust-list reads must return exactly the bytes at the position.
 */
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import {
  AttributeIds,
  BrowseDirection,
  DataType,
  LocalizedText,
  NodeClass,
  NodeId,
  NodeIdType,
  StatusCodes,
  Variant,
  VariantArrayType,
  type Argument,
  type ClientSession,
  type VariantLike,
} from "node-opcua";
import { OpaqueStructure } from "node-opcua-extension-object";
import { CertificateClient, type DirectoryClient } from "../../src/client/directory-client";
import { makeCsr, testKeyPair, x509 } from "./certificates";
import { serverRecord } from "./records";

// ---------------------------------------------------------------------------------------------
// Methods, found by browsing

/** A declared argument and the builtin type it travels as. */
export interface DeclaredArgument {
  name: string;
  valueRank: number;
  builtin: DataType;
}

/** A method to fuzz: where it is and what it declares. */
export interface FuzzMethod {
  name: string;
  objectId: NodeId;
  methodId: NodeId;
  inputs: DeclaredArgument[];
  outputs: DeclaredArgument[];
}

/** Enumeration (ns=0;i=29): its subtypes travel as Int32. */
const ENUMERATION = 29;

/**
 * The builtin type a DataType travels as, found by walking its supertypes on the server up to a
 * builtin one (UtcTime -> DateTime, LocaleId -> String, a structure -> Structure = ExtensionObject).
 */
async function builtinOf(session: ClientSession, dataType: NodeId, cache: Map<string, DataType>): Promise<DataType> {
  const key = dataType.toString();
  const known = cache.get(key);
  if (known !== undefined) return known;
  let builtin: DataType;
  if (dataType.namespace === 0 && typeof dataType.value === "number" && dataType.value >= 1 && dataType.value <= 25) builtin = dataType.value as DataType;
  else if (dataType.namespace === 0 && dataType.value === ENUMERATION) builtin = DataType.Int32;
  else {
    const up = await session.browse({ nodeId: dataType, browseDirection: BrowseDirection.Inverse, referenceTypeId: "HasSubtype", resultMask: 63 });
    const parent = up.references?.[0]?.nodeId as unknown as NodeId | undefined;
    builtin = parent ? await builtinOf(session, parent, cache) : DataType.Variant;
  }
  cache.set(key, builtin);
  return builtin;
}

async function argumentsOf(session: ClientSession, methodId: NodeId, name: "InputArguments" | "OutputArguments", cache: Map<string, DataType>): Promise<DeclaredArgument[]> {
  const props = await session.browse({ nodeId: methodId, browseDirection: BrowseDirection.Forward, referenceTypeId: "HasProperty", resultMask: 63 });
  const prop = props.references?.find((r) => r.browseName.name === name);
  if (!prop) return [];
  const value = await session.read({ nodeId: prop.nodeId, attributeId: AttributeIds.Value });
  const declared = (value.value.value as Argument[] | null) ?? [];
  return Promise.all(declared.map(async (a) => ({ name: a.name ?? "?", valueRank: a.valueRank, builtin: await builtinOf(session, a.dataType, cache) })));
}

/** The methods of `objects` (HasComponent, one level), with their declared arguments. */
export async function discoverMethods(session: ClientSession, objects: NodeId[]): Promise<FuzzMethod[]> {
  const methods: FuzzMethod[] = [];
  const cache = new Map<string, DataType>();
  for (const objectId of objects) {
    const result = await session.browse({ nodeId: objectId, browseDirection: BrowseDirection.Forward, referenceTypeId: "HasComponent", nodeClassMask: NodeClass.Method, resultMask: 63 });
    for (const ref of result.references ?? []) {
      const methodId = ref.nodeId as unknown as NodeId;
      methods.push({ name: ref.browseName.name ?? "?", objectId, methodId, inputs: await argumentsOf(session, methodId, "InputArguments", cache), outputs: await argumentsOf(session, methodId, "OutputArguments", cache) });
    }
  }
  return methods;
}

/** The GDS's fuzz targets: Directory, the approval desk, and the TrustList of each default group. */
export async function gdsTargets(session: ClientSession): Promise<{ gdsNamespace: number; directory: FuzzMethod[]; desk: FuzzMethod[]; trustLists: NodeId[]; trustListMethods: FuzzMethod[] }> {
  const namespaces = await session.readNamespaceArray();
  const gds = namespaces.indexOf("http://opcfoundation.org/UA/GDS/");
  const own = namespaces.indexOf("urn:opcua-gds:model");
  const trustLists = [616, 650, 684].map((i) => new NodeId(NodeIdType.NUMERIC, i, gds));
  return {
    gdsNamespace: gds,
    directory: await discoverMethods(session, [new NodeId(NodeIdType.NUMERIC, 141, gds)]),
    desk: own >= 0 ? await discoverMethods(session, [new NodeId(NodeIdType.NUMERIC, 1000, own)]) : [],
    trustLists,
    trustListMethods: await discoverMethods(session, trustLists.slice(0, 1)),
  };
}

// ---------------------------------------------------------------------------------------------
// What the arguments are made of

/** Known values that take a case past the first checks (existing applications, requests, real DER). */
export interface FuzzPools {
  gdsNamespace: number;
  applicationIds: string[];
  requestIds: string[];
  /** DER of real CSRs (for pool applications, and with odd subjects). */
  csrs: Buffer[];
  /** DER of real certificates (issued by the GDS, and foreign). */
  certificates: Buffer[];
}

/** Builds the pools: CSRs with odd subjects made once (signing is the slow part). */
export async function makeCsrCorpus(uris: string[]): Promise<Buffer[]> {
  const { keys } = await testKeyPair();
  const odd = [
    "CN=line\nbreak",
    "CN=nul\u0000byte",
    `CN=${"L".repeat(5000)}`,
    "CN=a, O=b, OU=c, DC=d, C=DE",
    "CN=\u202eevil\u202c, O=rtl",
    "CN=' OR 1=1 --",
    "CN=%, O=_",
    `CN=${"é".repeat(300)}`,
    Array.from({ length: 60 }, (_, i) => `OU=unit${i}`).join(", "),
  ];
  const corpus: Buffer[] = [];
  for (const uri of uris) corpus.push(await makeCsr(keys, { uri, dns: ["localhost"], subject: "CN=Fuzz" }));
  for (const subject of odd) {
    try {
      corpus.push(await makeCsr(keys, { uri: uris[0] ?? "urn:fuzz", subject }));
    } catch {
      // A subject the CSR library refuses to encode is not a case.
    }
  }
  corpus.push(await makeCsr(keys, { uri: "urn:fuzz:line\nbreak", dns: ["bad host", "a".repeat(300)], ip: ["10.0.0.1"], subject: "CN=x" }));
  corpus.push(await makeCsr(keys, { subject: "CN=no uri" }));
  return corpus;
}

/**
 * Registers a few applications (`label` keeps them apart), issues one certificate, and builds the
 * pools from them: the known ids, a real CSR and certificate, CSRs with odd subjects, a foreign certificate.
 */
export async function makePools(d: DirectoryClient, label: string): Promise<FuzzPools> {
  const records = [1, 2, 3].map((n) => serverRecord(`fuzz-${label}-${n}`));
  const applicationIds: string[] = [];
  for (const r of records) applicationIds.push(await d.registerApplication(r));
  const c = new CertificateClient(d);
  const csr = await makeCsr((await testKeyPair()).keys, { uri: records[0].applicationUri, dns: [`plcfuzz-${label}-1.plant1`] });
  const requestId = await c.startSigningRequest(applicationIds[0], csr);
  const issued = await c.finishRequest(applicationIds[0], requestId);
  return {
    gdsNamespace: d.namespaceIndex,
    applicationIds,
    requestIds: [requestId],
    csrs: [csr, ...(await makeCsrCorpus(records.map((r) => r.applicationUri)))],
    certificates: [issued.certificate, await foreignCertificate()],
  };
}

/** A foreign self-signed certificate (never issued by the GDS). */
export async function foreignCertificate(): Promise<Buffer> {
  const { keys } = await testKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=foreign",
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 86400_000),
    keys,
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  });
  return Buffer.from(cert.rawData);
}

// ---------------------------------------------------------------------------------------------
// Plans: plain data turned into Variants at call time

/** How one argument is sent. */
export type ArgPlan =
  | { kind: "value"; dataType: DataType; array: boolean; value: unknown }
  | { kind: "record"; array: boolean; fields: RecordFields }
  | { kind: "opaque"; ofRecord: boolean; body: Uint8Array }
  | { kind: "nested"; depth: number; leaf: ArgPlan }
  | { kind: "missing" };

/** Fields of an ApplicationRecordDataType (any content). */
export interface RecordFields {
  applicationId: NodePlan;
  applicationUri: string;
  applicationType: number;
  applicationNames: Array<{ locale: string; text: string }>;
  productUri: string;
  discoveryUrls: string[];
  serverCapabilities: string[];
}

/** A NodeId as plain data. */
export type NodePlan =
  | { type: "null" }
  | { type: "numeric"; ns: number; id: number }
  | { type: "string"; ns: number; id: string }
  | { type: "guid"; ns: number; id: string }
  | { type: "opaque"; ns: number; id: Uint8Array }
  | { type: "pool"; which: "application" | "request"; index: number };

/** A case: the arguments of one call. */
export type CallPlan = ArgPlan[];

const MAX_UINT32 = 4294967295;

function hugeString(): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom("x", "%", "\u0000", "é", "\n"), fc.integer({ min: 1000, max: 70_000 })).map(([c, n]) => c.repeat(n));
}

/** Strings a GDS should survive: empty, control characters, patterns, SQL, very long, any Unicode. */
export function hostileString(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 80 }) },
    { weight: 3, arbitrary: fc.constantFrom("", "%", "_", "[a-", "urn:%", "urn:plant1:line1:plc", "opc.tcp://h:4840", "a\nb", "nul\u0000", "'; DROP TABLE applications; --", "\u202e", "PFX", "PEM", "pem", "CN=x", "CN=x\nO=y", "DA", "LDS") },
    { weight: 1, arbitrary: hugeString() },
  );
}

function nodePlan(): fc.Arbitrary<NodePlan> {
  const ns = fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 65535 }));
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ type: fc.constant("pool" as const), which: fc.constantFrom("application" as const, "request" as const), index: fc.nat(20) }) },
    { weight: 1, arbitrary: fc.constant({ type: "null" as const }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant("numeric" as const), ns, id: fc.oneof(fc.constantFrom(615, 616, 649, 683, 12560, 12558, 19323, 0), fc.integer({ min: 0, max: MAX_UINT32 })) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("string" as const), ns, id: fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.constant("x".repeat(4000))) }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant("guid" as const), ns, id: fc.oneof(fc.uuid(), fc.constant("00000000-0000-0000-0000-000000000000")) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("opaque" as const), ns, id: fc.uint8Array({ minLength: 1, maxLength: 64 }) }) },
  );
}

/** DER a GDS should survive: random bytes, real CSRs and certificates whole, truncated or with flipped bytes, oversized. */
function hostileDer(pool: Buffer[]): fc.Arbitrary<Uint8Array> {
  const real = fc.constantFrom(...(pool.length ? pool : [Buffer.from([0x30, 0x00])]));
  return fc.oneof(
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
    { weight: 2, arbitrary: real },
    { weight: 2, arbitrary: fc.tuple(real, fc.double({ min: 0, max: 1, noNaN: true })).map(([der, f]) => der.subarray(0, Math.floor(der.length * f))) },
    {
      weight: 3,
      arbitrary: fc.tuple(real, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 })).map(([der, flips]) => {
        const copy = Buffer.from(der);
        for (const [at, mask] of flips) if (copy.length) copy[at % copy.length] ^= mask;
        return copy;
      }),
    },
    { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 200_000 }).map((n) => Buffer.alloc(n, 0x30)) },
    { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  );
}

function stringArray(): fc.Arbitrary<string[]> {
  return fc.oneof(
    { weight: 9, arbitrary: fc.array(hostileString(), { maxLength: 12 }) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom("DA", "", "x".repeat(100), "opc.tcp://h:1"), fc.integer({ min: 1000, max: 60_000 })).map(([s, n]) => Array<string>(n).fill(s)) },
  );
}

/** A record the GDS accepts (unique URI, a printable name of any script): reaches the store. */
function validRecordFields(): fc.Arbitrary<RecordFields> {
  const printable = fc.string({ minLength: 1, maxLength: 60 }).filter((t) => !/[\u0000-\u001f\u007f]/.test(t));
  return fc.record({
    applicationId: fc.constant({ type: "null" as const }),
    applicationUri: fc.uuid().map((u) => `urn:fuzz:${u}`),
    applicationType: fc.constantFrom(0, 2, 3),
    applicationNames: fc.array(fc.record({ locale: fc.constantFrom("en", "de", "ja-JP", ""), text: printable }), { minLength: 1, maxLength: 3 }),
    productUri: fc.constant("urn:fuzz:product"),
    discoveryUrls: fc.constant(["opc.tcp://fuzz.plant1:4840"]),
    serverCapabilities: fc.subarray(["DA", "HD", "AC", "LDS"]),
  });
}

function recordFields(): fc.Arbitrary<RecordFields> {
  return fc.oneof({ weight: 1, arbitrary: validRecordFields() }, { weight: 3, arbitrary: hostileRecordFields() });
}

function hostileRecordFields(): fc.Arbitrary<RecordFields> {
  return fc.record({
    applicationId: nodePlan(),
    applicationUri: fc.oneof(fc.constantFrom("urn:fuzz:app", "urn:plant1:line1:plc"), fc.webUrl().map((u) => u.replace(/^https?/, "urn")), hostileString()),
    applicationType: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: -5, max: 9 })),
    applicationNames: fc.oneof(
      { weight: 4, arbitrary: fc.array(fc.record({ locale: fc.constantFrom("", "en", "de-DE", "x".repeat(300)), text: hostileString() }), { maxLength: 4 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => Array.from({ length: n }, () => ({ locale: "en", text: "n" }))) },
    ),
    productUri: hostileString(),
    discoveryUrls: fc.oneof(fc.array(fc.constantFrom("opc.tcp://plc1.plant1:4840", "opc.tcp://[::1]:4840", "http://x", "opc.tcp://a b:1", "opc.https://h:443"), { maxLength: 4 }), stringArray()),
    serverCapabilities: stringArray(),
  });
}

/** An argument of declared builtin type `dataType` (scalar or array) with hostile content. */
function typedValue(dataType: DataType, array: boolean, pools: FuzzPools): fc.Arbitrary<ArgPlan> {
  const scalar = ((): fc.Arbitrary<unknown> => {
    switch (dataType) {
      case DataType.Boolean:
        return fc.boolean();
      case DataType.Byte:
        return fc.oneof(fc.constantFrom(0, 1, 2, 3, 0x10, 0xff), fc.integer({ min: 0, max: 255 }));
      case DataType.Int32:
        return fc.oneof(fc.constantFrom(0, 1, -1, 100, 1_000_000, 2147483647, -2147483648), fc.integer({ min: -2147483648, max: 2147483647 }));
      case DataType.UInt32:
        return fc.oneof(fc.constantFrom(0, 1, 10, 15, 16, MAX_UINT32), fc.integer({ min: 0, max: MAX_UINT32 }));
      case DataType.UInt64:
        return fc.oneof(fc.constantFrom([0, 0], [0, 1], [0, 100], [0xffffffff, 0xffffffff], [1, 0]), fc.tuple(fc.integer({ min: 0, max: MAX_UINT32 }), fc.integer({ min: 0, max: MAX_UINT32 })));
      case DataType.String:
        return hostileString();
      case DataType.ByteString:
        return hostileDer([...pools.csrs, ...pools.certificates]);
      case DataType.NodeId:
        return nodePlan();
      default:
        return anyValueOf(dataType);
    }
  })();
  return (array ? fc.oneof(fc.array(scalar, { maxLength: 8 }), dataType === DataType.String ? stringArray() : fc.array(scalar, { maxLength: 8 })) : scalar).map((value) => ({ kind: "value" as const, dataType, array, value }));
}

/** A value of `dataType` for arguments of the wrong type. */
function anyValueOf(dataType: DataType): fc.Arbitrary<unknown> {
  switch (dataType) {
    case DataType.Double:
      return fc.double();
    case DataType.DateTime:
      return fc.date({ min: new Date(1601, 0, 2), max: new Date(9999, 0, 1), noInvalidDate: true });
    case DataType.LocalizedText:
      return fc.record({ locale: fc.constantFrom("en", ""), text: hostileString() });
    case DataType.Guid:
      return fc.uuid();
    default:
      return fc.constant(null);
  }
}

const WRONG_TYPES = [DataType.Boolean, DataType.Byte, DataType.Int32, DataType.UInt32, DataType.UInt64, DataType.Double, DataType.String, DataType.DateTime, DataType.Guid, DataType.ByteString, DataType.NodeId, DataType.LocalizedText];

/**
 * node-opcua's decoder stops at 128 levels of nesting and then drops the request without any answer
 * (message_builder: "we just ignore the message"); the session goes on. Cases stay within it: a
 * request nested deeper is a separate, explicit test.
 */
export const MAX_NESTING = 120;

/** Any argument at all: a value of a random builtin type, a record, an undecodable structure, a nested Variant. */
function anyArg(pools: FuzzPools, nesting = true): fc.Arbitrary<ArgPlan> {
  const leaf = fc.constantFrom(...WRONG_TYPES).chain((t) => fc.boolean().chain((array) => typedValue(t, array, pools)));
  const options: Array<fc.WeightedArbitrary<ArgPlan>> = [
    { weight: 6, arbitrary: leaf },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("record" as const), array: fc.boolean(), fields: recordFields() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("opaque" as const), ofRecord: fc.boolean(), body: fc.uint8Array({ maxLength: 512 }) }) },
  ];
  if (nesting) options.push({ weight: 1, arbitrary: fc.record({ kind: fc.constant("nested" as const), depth: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 50, max: MAX_NESTING })), leaf: anyArg(pools, false) }) });
  return fc.oneof(...options);
}

/** An argument of the declared type with hostile content. */
function declaredArg(a: DeclaredArgument, pools: FuzzPools): fc.Arbitrary<ArgPlan> {
  const builtin = a.builtin;
  const array = a.valueRank >= 0;
  if (builtin === DataType.ExtensionObject) {
    return fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant("record" as const), array: fc.constant(array), fields: recordFields() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("opaque" as const), ofRecord: fc.constant(true), body: fc.uint8Array({ maxLength: 512 }) }) },
    );
  }
  return typedValue(builtin, array, pools);
}

/** The cases of one method: mostly the declared types, then wrong types, then wrong arity. */
export function callPlans(method: FuzzMethod, pools: FuzzPools): fc.Arbitrary<CallPlan> {
  const declared = fc.tuple(...method.inputs.map((a) => declaredArg(a, pools)));
  const n = method.inputs.length;
  const wrongOne =
    n === 0
      ? fc.tuple(anyArg(pools))
      : fc.tuple(declared, fc.nat(n - 1), anyArg(pools)).map(([args, at, wrong]) => args.map((a, i) => (i === at ? wrong : a)));
  const arity = fc.oneof(
    fc.array(anyArg(pools), { maxLength: n + 3 }),
    declared.map((args) => args.slice(0, Math.max(0, n - 1))),
    fc.tuple(declared, anyArg(pools)).map(([args, extra]) => [...args, extra]),
  );
  return fc.oneof({ weight: 6, arbitrary: declared as fc.Arbitrary<CallPlan> }, { weight: 3, arbitrary: wrongOne as fc.Arbitrary<CallPlan> }, { weight: 2, arbitrary: arity });
}

// ---------------------------------------------------------------------------------------------
// From plans to Variants

function toNodeId(p: NodePlan, pools: FuzzPools): NodeId {
  switch (p.type) {
    case "null":
      return NodeId.nullNodeId;
    case "numeric":
      return new NodeId(NodeIdType.NUMERIC, p.id, p.ns);
    case "string":
      return new NodeId(NodeIdType.STRING, p.id, p.ns);
    case "guid":
      return new NodeId(NodeIdType.GUID, p.id, p.ns);
    case "opaque":
      return new NodeId(NodeIdType.BYTESTRING, Buffer.from(p.id), p.ns);
    case "pool": {
      const list = p.which === "application" ? pools.applicationIds : pools.requestIds;
      return list.length ? NodeId.resolveNodeId(list[p.index % list.length]) : new NodeId(NodeIdType.GUID, randomUUID(), 1);
    }
  }
}

function scalarValue(dataType: DataType, value: unknown, pools: FuzzPools): unknown {
  if (dataType === DataType.NodeId) return toNodeId(value as NodePlan, pools);
  if (dataType === DataType.ByteString) return Buffer.from(value as Uint8Array);
  if (dataType === DataType.LocalizedText) return new LocalizedText(value as { locale: string; text: string });
  return value;
}

async function record(session: ClientSession, pools: FuzzPools, fields: RecordFields): Promise<unknown> {
  return session.constructExtensionObject(new NodeId(NodeIdType.NUMERIC, 1, pools.gdsNamespace), {
    applicationId: toNodeId(fields.applicationId, pools),
    applicationUri: fields.applicationUri,
    applicationType: fields.applicationType,
    applicationNames: fields.applicationNames.map((n) => new LocalizedText(n)),
    productUri: fields.productUri,
    discoveryUrls: fields.discoveryUrls,
    serverCapabilities: fields.serverCapabilities,
  });
}

/** The Variant of an argument plan; null for a missing argument. */
export async function toVariant(session: ClientSession, pools: FuzzPools, plan: ArgPlan): Promise<VariantLike | null> {
  switch (plan.kind) {
    case "missing":
      return null;
    case "value":
      return {
        dataType: plan.dataType,
        arrayType: plan.array ? VariantArrayType.Array : VariantArrayType.Scalar,
        value: plan.array ? (plan.value as unknown[]).map((v) => scalarValue(plan.dataType, v, pools)) : scalarValue(plan.dataType, plan.value, pools),
      };
    case "record": {
      const r = await record(session, pools, plan.fields);
      return plan.array ? { dataType: DataType.ExtensionObject, arrayType: VariantArrayType.Array, value: [r, r] } : { dataType: DataType.ExtensionObject, value: r };
    }
    case "opaque": {
      // The binary encoding id of ApplicationRecordDataType (ns=GDS;i=134), or one nobody knows.
      const encoding = plan.ofRecord ? new NodeId(NodeIdType.NUMERIC, 134, pools.gdsNamespace) : new NodeId(NodeIdType.NUMERIC, 999_999, pools.gdsNamespace);
      return { dataType: DataType.ExtensionObject, value: new OpaqueStructure(encoding, Buffer.from(plan.body)) };
    }
    case "nested": {
      let v = await toVariant(session, pools, plan.leaf);
      for (let i = 0; i < plan.depth; i++) v = { dataType: DataType.Variant, arrayType: VariantArrayType.Array, value: [new Variant(v ?? { dataType: DataType.Null })] };
      return v;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Calls and the oracle

/** How a call ended. */
export interface Outcome {
  /** A status name, or `client-refused` (the client could not encode the case) or `connection-lost`. */
  status: string;
  /** What is wrong with the answer; null when it is acceptable. */
  problem: string | null;
}

const INTERNAL = new Set([StatusCodes.BadInternalError.value, StatusCodes.BadUnexpectedError.value]);

function outputsProblem(method: FuzzMethod, outputs: Variant[]): string | null {
  if (outputs.length !== method.outputs.length) return `Good with ${outputs.length} outputs, ${method.outputs.length} declared`;
  for (let i = 0; i < outputs.length; i++) {
    const declared = method.outputs[i];
    const v = outputs[i];
    if (v.dataType === DataType.Null) continue;
    const expected = declared.builtin;
    if (v.dataType !== expected) return `Good with output ${declared.name} of type ${DataType[v.dataType]}, declared ${DataType[expected]}`;
    const isArray = v.arrayType !== VariantArrayType.Scalar;
    if (isArray !== declared.valueRank >= 0) return `Good with output ${declared.name} ${isArray ? "an array" : "a scalar"}, declared otherwise`;
  }
  return null;
}

/** Connection failures, as node-opcua's client reports them (the server went away or dropped us). */
export function isConnectionLoss(e: unknown): boolean {
  return /BadSessionClosed|BadSecureChannelClosed|BadConnectionClosed|premature|socket|ECONNRESET|EPIPE|closed|BadSessionIdInvalid|BadCommunicationError|Transaction has timed out|BadTimeout|BadRequestTimeout/i.test(String((e as Error)?.message ?? e));
}

/** A short description of a case for messages (sizes rather than megabytes of content). */
export function describePlan(plan: CallPlan): string {
  const one = (p: ArgPlan): string => {
    switch (p.kind) {
      case "value": {
        const v = p.value as { length?: number } | null;
        const size = p.array ? `[${(p.value as unknown[]).length}]` : typeof v === "string" || v instanceof Uint8Array ? `(${v.length})` : `=${JSON.stringify(p.value)?.slice(0, 60)}`;
        return `${DataType[p.dataType]}${size}`;
      }
      case "record":
        return `Record${p.array ? "[]" : ""}(names ${p.fields.applicationNames.length}, urls ${p.fields.discoveryUrls.length}, caps ${p.fields.serverCapabilities.length}, type ${p.fields.applicationType})`;
      case "opaque":
        return `Opaque(${p.ofRecord ? "record" : "unknown"}, ${p.body.length} bytes)`;
      case "nested":
        return `Nested(${p.depth}, ${one(p.leaf)})`;
      case "missing":
        return "missing";
    }
  };
  return `[${plan.map(one).join(", ")}]`;
}

/** Calls `method` with the case `plan` and judges the answer. */
export async function callCase(session: ClientSession, pools: FuzzPools, method: FuzzMethod, plan: CallPlan): Promise<Outcome> {
  let inputArguments: VariantLike[];
  try {
    inputArguments = (await Promise.all(plan.map((p) => toVariant(session, pools, p)))).filter((v): v is VariantLike => v !== null).map((v) => new Variant(v));
  } catch {
    return { status: "client-refused", problem: null };
  }
  try {
    const r = await session.call({ objectId: method.objectId, methodId: method.methodId, inputArguments });
    const status = r.statusCode;
    if (INTERNAL.has(status.value)) return { status: status.name, problem: `${method.name} ${describePlan(plan)} answered ${status.name}` };
    if (status.isGood()) return { status: status.name, problem: outputsProblem(method, r.outputArguments ?? []) };
    return { status: status.name, problem: null };
  } catch (e) {
    if (isConnectionLoss(e)) return { status: "connection-lost", problem: `${method.name} ${describePlan(plan)}: the connection was lost: ${(e as Error).message}` };
    const m = /(Bad[A-Za-z]+)/.exec(String((e as Error)?.message));
    // A request the client refuses to send (too large for the granted message size) never reaches the server.
    if (m && /TooLarge|EncodingLimits|Encoding/i.test(m[1])) return { status: `client-refused (${m[1]})`, problem: null };
    if (m && INTERNAL.has((StatusCodes as unknown as Record<string, { value: number }>)[m[1]]?.value ?? -1)) return { status: m[1], problem: `${method.name} answered ${m[1]}` };
    return { status: m ? m[1] : "client-refused", problem: null };
  }
}

/** Counts of outcomes per method and status. */
export class Tally {
  readonly counts = new Map<string, Map<string, number>>();
  readonly problems: string[] = [];

  add(method: string, outcome: Outcome): void {
    const byStatus = this.counts.get(method) ?? new Map<string, number>();
    byStatus.set(outcome.status, (byStatus.get(outcome.status) ?? 0) + 1);
    this.counts.set(method, byStatus);
    if (outcome.problem && this.problems.length < 100) this.problems.push(outcome.problem);
  }

  total(method?: string): number {
    const maps = method ? [this.counts.get(method) ?? new Map<string, number>()] : [...this.counts.values()];
    return maps.reduce((sum, m) => sum + [...m.values()].reduce((a, b) => a + b, 0), 0);
  }

  /** One line per method: its statuses by count. */
  lines(): string[] {
    return [...this.counts].map(([m, byStatus]) => `${m}: ${[...byStatus].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} ${n}`).join(", ")}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Trust-list files: odd lengths and positions, checked against the content

/** One operation on an open TrustList file. */
export type FileOp =
  | { op: "read"; length: number }
  | { op: "setPosition"; position: [number, number] }
  | { op: "getPosition" }
  | { op: "readForeignHandle"; handle: number; length: number }
  | { op: "write"; data: Uint8Array }
  | { op: "open"; mode: number }
  | { op: "openWithMasks"; masks: number }
  | { op: "close" };

/** A scenario: which trust list, then operations on a handle opened for reading. */
export interface FileScenario {
  trustList: number;
  ops: FileOp[];
}

export function fileScenarios(): fc.Arbitrary<FileScenario> {
  const length = fc.oneof(fc.constantFrom(1, 2, 7, 100, 4096, 65535, 1 << 20, 0, -1, 2147483647, -2147483648), fc.integer({ min: -2147483648, max: 2147483647 }));
  const op: fc.Arbitrary<FileOp> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant("read" as const), length }) },
    {
      weight: 3,
      arbitrary: fc.record({ op: fc.constant("setPosition" as const), position: fc.oneof(fc.tuple(fc.constant(0), fc.integer({ min: 0, max: 5000 })), fc.tuple(fc.integer({ min: 0, max: MAX_UINT32 }), fc.integer({ min: 0, max: MAX_UINT32 }))) }),
    },
    { weight: 2, arbitrary: fc.constant({ op: "getPosition" as const }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("readForeignHandle" as const), handle: fc.integer({ min: 0, max: MAX_UINT32 }), length }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("write" as const), data: fc.uint8Array({ maxLength: 64 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("open" as const), mode: fc.integer({ min: 0, max: 255 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("openWithMasks" as const), masks: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: MAX_UINT32 })) }) },
    { weight: 1, arbitrary: fc.constant({ op: "close" as const }) },
  );
  return fc.record({ trustList: fc.nat(2), ops: fc.array(op, { minLength: 1, maxLength: 12 }) });
}

/** Method NodeIds of the TrustList objects, by object and name (found once by browsing). */
const fileMethodIds = new Map<string, NodeId>();

async function fileCall(session: ClientSession, objectId: NodeId, method: string, args: VariantLike[]) {
  const key = `${objectId.toString()}/${method}`;
  let methodId = fileMethodIds.get(key);
  if (!methodId) {
    const found = (await session.browse({ nodeId: objectId, browseDirection: BrowseDirection.Forward, referenceTypeId: "HasComponent", resultMask: 63 })).references?.find((r) => r.browseName.name === method)?.nodeId;
    if (!found) throw new Error(`the TrustList has no method ${method}`);
    methodId = found as unknown as NodeId;
    fileMethodIds.set(key, methodId);
  }
  return session.call({ objectId, methodId, inputArguments: args.map((a) => new Variant(a)) });
}

const UINT32 = (value: number) => ({ dataType: DataType.UInt32, value });

/**
 * Runs a scenario on `trustLists[scenario.trustList]`: opens it, reads it whole (the content of
 * that handle's snapshot), goes back to 0, then applies the operations, checking every answer
 * against a model of the handle (its position and whether it is open). Always closes what it opened.
 */
export async function runFileScenario(session: ClientSession, trustLists: NodeId[], scenario: FileScenario, tally: Tally): Promise<void> {
  const objectId = trustLists[scenario.trustList % trustLists.length];
  const note = (what: string, status: string, problem: string | null = null) => tally.add(`TrustList.${what}`, { status, problem: problem ? `TrustList.${what}: ${problem}` : null });
  const open = await fileCall(session, objectId, "Open", [{ dataType: DataType.Byte, value: 1 }]);
  note("Open", open.statusCode.name, open.statusCode.isGood() ? null : `Open(Read) answered ${open.statusCode.name}`);
  if (!open.statusCode.isGood()) return;
  const handle = open.outputArguments![0].value as number;
  const extra: number[] = [];
  let isOpen = true;
  try {
    const whole = await fileCall(session, objectId, "Read", [UINT32(handle), { dataType: DataType.Int32, value: 1 << 24 }]);
    const content = (whole.outputArguments?.[0]?.value as Buffer | null) ?? Buffer.alloc(0);
    await fileCall(session, objectId, "SetPosition", [UINT32(handle), { dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [0, 0] }]);
    let position = 0;
    for (const op of scenario.ops) {
      const judge = (what: string, r: { statusCode: { name: string; value: number; isGood(): boolean } }, expectGood: boolean, check?: () => string | null) => {
        let problem: string | null = null;
        if (INTERNAL.has(r.statusCode.value)) problem = `answered ${r.statusCode.name}`;
        else if (expectGood !== r.statusCode.isGood()) problem = `answered ${r.statusCode.name}, expected ${expectGood ? "Good" : "a Bad status"} (${JSON.stringify(op)})`;
        else if (expectGood && check) problem = check();
        note(what, r.statusCode.name, problem);
      };
      switch (op.op) {
        case "read": {
          const r = await fileCall(session, objectId, "Read", [UINT32(handle), { dataType: DataType.Int32, value: op.length }]);
          const from = position;
          judge("Read", r, isOpen && op.length > 0, () => {
            const got = (r.outputArguments?.[0]?.value as Buffer | null) ?? Buffer.alloc(0);
            const expected = content.subarray(from, Math.min(content.length, from + op.length));
            return got.equals(expected) ? null : `Read(${op.length}) at ${from} returned ${got.length} bytes that are not the content's ${expected.length}`;
          });
          if (isOpen && op.length > 0) position = Math.min(content.length, position + op.length);
          break;
        }
        case "setPosition": {
          const r = await fileCall(session, objectId, "SetPosition", [UINT32(handle), { dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: op.position }]);
          judge("SetPosition", r, isOpen);
          if (isOpen) position = Math.min(content.length, op.position[0] * 2 ** 32 + op.position[1]);
          break;
        }
        case "getPosition": {
          const r = await fileCall(session, objectId, "GetPosition", [UINT32(handle)]);
          judge("GetPosition", r, isOpen, () => {
            const [high, low] = r.outputArguments![0].value as [number, number];
            return high * 2 ** 32 + low === position ? null : `GetPosition answered ${high * 2 ** 32 + low}, the position is ${position}`;
          });
          break;
        }
        case "readForeignHandle": {
          const r = await fileCall(session, objectId, "Read", [UINT32(op.handle), { dataType: DataType.Int32, value: op.length }]);
          const ours = op.handle === handle || extra.includes(op.handle);
          if (ours) note("Read", r.statusCode.name, INTERNAL.has(r.statusCode.value) ? `answered ${r.statusCode.name}` : null);
          else judge("Read", r, false);
          break;
        }
        case "write": {
          const r = await fileCall(session, objectId, "Write", [UINT32(handle), { dataType: DataType.ByteString, value: Buffer.from(op.data) }]);
          judge("Write", r, false);
          break;
        }
        case "open": {
          const r = await fileCall(session, objectId, "Open", [{ dataType: DataType.Byte, value: op.mode }]);
          note("Open", r.statusCode.name, INTERNAL.has(r.statusCode.value) ? `answered ${r.statusCode.name}` : op.mode !== 1 && r.statusCode.isGood() ? `Open(${op.mode}) answered Good` : null);
          if (r.statusCode.isGood()) extra.push(r.outputArguments![0].value as number);
          break;
        }
        case "openWithMasks": {
          const r = await fileCall(session, objectId, "OpenWithMasks", [UINT32(op.masks)]);
          note("OpenWithMasks", r.statusCode.name, INTERNAL.has(r.statusCode.value) ? `answered ${r.statusCode.name}` : op.masks > 15 && r.statusCode.isGood() ? `OpenWithMasks(${op.masks}) answered Good` : null);
          if (r.statusCode.isGood()) extra.push(r.outputArguments![0].value as number);
          break;
        }
        case "close": {
          const r = await fileCall(session, objectId, "Close", [UINT32(handle)]);
          judge("Close", r, isOpen);
          isOpen = false;
          break;
        }
      }
    }
  } finally {
    for (const h of [...(isOpen ? [handle] : []), ...extra]) await fileCall(session, objectId, "Close", [UINT32(h)]).catch(() => undefined);
  }
}
