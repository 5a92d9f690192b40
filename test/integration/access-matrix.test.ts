import "reflect-metadata";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { DataType, MessageSecurityMode, NodeId, SecurityPolicy, StatusCodes, VariantArrayType, type StatusCode, type VariantLike } from "node-opcua";
import { CertificateClient, GdsCallError } from "../../src/client/directory-client";
import { readTrustList, trustListMethods } from "../../src/client/trust-list-reader";
import { formatApplicationId } from "../../src/domain/application-id";
import type { ApplicationFields } from "../../src/domain/application";
import { CERTIFICATE_GROUPS } from "../../src/domain/certificate-groups";
import { ROLES, type Role } from "../../src/domain/roles";
import { encodeTrustList } from "../../src/encoding/trust-list-encoding";
import { OPCUA_GDS_IDS, OPCUA_GDS_NAMESPACE_URI } from "../../src/opcua/request-administration";
import type { Requester } from "../../src/services/certificate-service";
import { makeCsr, testKeyPair } from "../helpers/certificates";
import { issuedClient, type ClientIdentity } from "../helpers/client-identities";
import { BACKENDS } from "../helpers/databases";
import { ADMIN_PASSWORD, startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, openGdsSession, type ClientOptions, type GdsSession } from "../helpers/opcua-client";
import { clientRecord } from "../helpers/records";
import { CallFailed, SC, TestCa, applyChanges, createSigningRequest, getRejectedList, updateCertificate } from "../helpers/push-target";

/*
 * The access-control matrix: every bound method of the Directory, the approval desk, the
 * certificate groups' TrustLists and the GDS's own ServerConfiguration, called by every kind of
 * caller over Sign and SignAndEncrypt, with arguments that succeed when the caller is authorized,
 * so that each cell shows the authorization answer and not an argument error.
 *
 * Cell codes: ok = Good; deny = Bad_UserAccessDenied; mode = Bad_SecurityModeInsufficient;
 * refused = no secure channel opens; nosession = no session can be created; any other code is the
 * status name without "Bad" (the answer an authorized caller gets from a read-only TrustList).
 * "a/b" is a over Sign, b over SignAndEncrypt; a single code holds for both.
 *
 * Callers (columns): anonymous and the users hold no application certificate of the GDS (the test
 * client's own, self-signed); "no roles" is an authenticated user without roles, the role columns a
 * user holding exactly that role (every role of src/domain/roles.ts has one); self:own is an
 * anonymous session presenting the certificate the GDS issued to a registered client application,
 * acting on that application, self:other the same session acting on another application; revoked
 * presents a GDS-issued certificate that was revoked.
 *
 * Sources: GDS-REFERENCE.md of the issue (roles, SignAndEncrypt for pull and push management), the
 * README's decisions (finding, querying and GetApplication open to every session; None serves
 * discovery only), OPC 10000-12 1.05 and the UA-.NETStandard GDS where the reference is silent.
 */
const EXPECTED = `
row                                                 | anonymous | no roles  | Discovery | CAAdmin      | RAAdmin   | Security          | self:own     | self:other   | revoked
# Directory: finding and reading records is open; changes need a signed channel.
Directory.FindApplications                          | ok        | ok        | ok        | ok           | ok        | ok                | ok           | ok           | refused
# GetApplication is open like FindApplications, which returns the same record to anyone (README).
Directory.GetApplication                            | ok        | ok        | ok        | ok           | ok        | ok                | ok           | ok           | refused
Directory.QueryApplications                         | ok        | ok        | ok        | ok           | ok        | ok                | ok           | ok           | refused
Directory.QueryServers                              | ok        | ok        | ok        | ok           | ok        | ok                | ok           | ok           | refused
# No onboarding window is open: registering is for DiscoveryAdmin only.
Directory.RegisterApplication                       | deny      | deny      | ok        | deny         | deny      | deny              | deny         | deny         | refused
Directory.UpdateApplication                         | deny      | deny      | ok        | deny         | deny      | deny              | ok           | deny         | refused
Directory.UnregisterApplication                     | deny      | deny      | ok        | deny         | deny      | deny              | ok           | deny         | refused
# Pull management (§7.9): SignAndEncrypt, then CertificateAuthorityAdmin or the application itself.
Directory.StartSigningRequest                       | mode/deny | mode/deny | mode/deny | mode/ok      | mode/deny | mode/deny         | mode/ok      | mode/deny    | refused
Directory.StartNewKeyPairRequest                    | mode/deny | mode/deny | mode/deny | mode/ok      | mode/deny | mode/deny         | mode/ok      | mode/deny    | refused
# FinishRequest of a request another client made: only an admin or the application collects it.
Directory.FinishRequest                             | mode/deny | mode/deny | mode/deny | mode/ok      | mode/deny | mode/deny         | mode/ok      | mode/deny    | refused
Directory.GetCertificateGroups                      | mode/deny | mode/deny | mode/deny | mode/ok      | mode/deny | mode/deny         | mode/ok      | mode/deny    | refused
Directory.GetTrustList                              | mode/deny | mode/deny | mode/deny | mode/ok      | mode/deny | mode/deny         | mode/ok      | mode/deny    | refused
Directory.GetCertificateStatus                      | mode/deny | mode/deny | mode/deny | mode/ok      | mode/deny | mode/deny         | mode/ok      | mode/deny    | refused
Directory.GetCertificates                           | mode/deny | mode/deny | mode/deny | mode/ok      | mode/deny | mode/deny         | mode/ok      | mode/deny    | refused
# Revocation is the CA's business: an application cannot revoke even its own certificates.
Directory.RevokeCertificate                         | mode/deny | mode/deny | mode/deny | mode/ok      | mode/deny | mode/deny         | mode/deny    | mode/deny    | refused
# CheckRevocationStatus: any session on an authenticated channel.
Directory.CheckRevocationStatus                     | ok        | ok        | ok        | ok           | ok        | ok                | ok           | ok           | refused
# The approval desk (opcua-gds namespace): SignAndEncrypt and RegistrationAuthorityAdmin.
CertificateRequests.ListRequests                    | mode/deny | mode/deny | mode/deny | mode/deny    | mode/ok   | mode/deny         | mode/deny    | mode/deny    | refused
CertificateRequests.ApproveRequest                  | mode/deny | mode/deny | mode/deny | mode/deny    | mode/ok   | mode/deny         | mode/deny    | mode/deny    | refused
CertificateRequests.RejectRequest                   | mode/deny | mode/deny | mode/deny | mode/deny    | mode/ok   | mode/deny         | mode/deny    | mode/deny    | refused
# The groups' TrustLists (§7.8.2.1 "an Administrative user ... or an Application that can only access
# the TrustList assigned to it"): the reference card is silent, so as the UA-.NETStandard GDS
# (HasTrustListAccess): CertificateAuthorityAdmin, SecurityAdmin, or the application for its own
# groups (a client application belongs to DefaultApplicationGroup only). A signed channel suffices:
# the content is public. A TrustList names no application, so self:other is the self:own session.
# Authorized callers meet the read-only file: Bad_NotWritable, Write on a read handle Bad_InvalidState.
DefaultApplicationGroup.TrustList.Open(Read)        | deny      | deny      | deny      | ok           | deny      | ok                | ok           | ok           | refused
DefaultApplicationGroup.TrustList.Open(Write)       | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | NotWritable  | NotWritable  | refused
DefaultApplicationGroup.TrustList.OpenWithMasks     | deny      | deny      | deny      | ok           | deny      | ok                | ok           | ok           | refused
DefaultApplicationGroup.TrustList.Read              | deny      | deny      | deny      | ok           | deny      | ok                | ok           | ok           | refused
DefaultApplicationGroup.TrustList.GetPosition       | deny      | deny      | deny      | ok           | deny      | ok                | ok           | ok           | refused
DefaultApplicationGroup.TrustList.SetPosition       | deny      | deny      | deny      | ok           | deny      | ok                | ok           | ok           | refused
DefaultApplicationGroup.TrustList.Close             | deny      | deny      | deny      | ok           | deny      | ok                | ok           | ok           | refused
DefaultApplicationGroup.TrustList.Write             | deny      | deny      | deny      | InvalidState | deny      | InvalidState      | InvalidState | InvalidState | refused
DefaultApplicationGroup.TrustList.CloseAndUpdate    | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | NotWritable  | NotWritable  | refused
DefaultApplicationGroup.TrustList.AddCertificate    | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | NotWritable  | NotWritable  | refused
DefaultApplicationGroup.TrustList.RemoveCertificate | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | NotWritable  | NotWritable  | refused
DefaultHttpsGroup.TrustList.Open(Read)              | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultHttpsGroup.TrustList.Open(Write)             | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | deny         | deny         | refused
DefaultHttpsGroup.TrustList.OpenWithMasks           | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultHttpsGroup.TrustList.Read                    | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultHttpsGroup.TrustList.GetPosition             | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultHttpsGroup.TrustList.SetPosition             | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultHttpsGroup.TrustList.Close                   | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultHttpsGroup.TrustList.Write                   | deny      | deny      | deny      | InvalidState | deny      | InvalidState      | deny         | deny         | refused
DefaultHttpsGroup.TrustList.CloseAndUpdate          | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | deny         | deny         | refused
DefaultHttpsGroup.TrustList.AddCertificate          | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | deny         | deny         | refused
DefaultHttpsGroup.TrustList.RemoveCertificate       | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.Open(Read)          | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.Open(Write)         | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.OpenWithMasks       | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.Read                | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.GetPosition         | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.SetPosition         | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.Close               | deny      | deny      | deny      | ok           | deny      | ok                | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.Write               | deny      | deny      | deny      | InvalidState | deny      | InvalidState      | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.CloseAndUpdate      | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.AddCertificate      | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | deny         | deny         | refused
DefaultUserTokenGroup.TrustList.RemoveCertificate   | deny      | deny      | deny      | NotWritable  | deny      | NotWritable       | deny         | deny         | refused
# The GDS's own ServerConfiguration (§7.10): SignAndEncrypt and SecurityAdmin for every member,
# reading its trust list included (it is the channel trust store). Rows run in this order within a
# session: AddCertificate/RemoveCertificate before a transaction exists, CancelChanges before
# ApplyChanges so that nothing is applied.
ServerConfiguration.TrustList.Open(Read)            | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.TrustList.Open(Write)           | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.TrustList.OpenWithMasks         | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.TrustList.Read                  | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.TrustList.GetPosition           | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.TrustList.SetPosition           | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.TrustList.Close                 | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.TrustList.AddCertificate        | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.TrustList.RemoveCertificate     | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.TrustList.Write                 | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.TrustList.CloseAndUpdate        | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.CreateSigningRequest            | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.GetRejectedList                 | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
# GetCertificates (1.05) is bound only when the NodeSet has it (node-opcua 2.182's has not): the row
# is skipped, with a diagnostic, when the method is absent.
ServerConfiguration.GetCertificates                 | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.UpdateCertificate               | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.CancelChanges                   | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
ServerConfiguration.ApplyChanges                    | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/ok           | mode/deny    | mode/deny    | refused
# ResetToServerDefaults is not offered: a SecurityAdmin on SignAndEncrypt learns Bad_NotSupported (left
# unbound, node-opcua answered Bad_InternalError to every session, anonymous over Sign included).
ServerConfiguration.ResetToServerDefaults           | mode/deny | mode/deny | mode/deny | mode/deny    | mode/deny | mode/NotSupported | mode/deny    | mode/deny    | refused
# There is no None endpoint: a session over None cannot be created, whoever asks.
(session over None)                                 | nosession | nosession | nosession | nosession    | nosession | nosession         | nosession    | nosession    | nosession
`;

const CALLERS = ["anonymous", "no roles", "Discovery", "CAAdmin", "RAAdmin", "Security", "self:own", "self:other", "revoked"] as const;
type CallerName = (typeof CALLERS)[number];
const CHANNELS = ["Sign", "SignAndEncrypt"] as const;
type Channel = (typeof CHANNELS)[number];
type ChannelOrNone = Channel | "None";
const NONE_ROW = "(session over None)";
const MODES: Record<ChannelOrNone, { mode: MessageSecurityMode; policy: SecurityPolicy }> = {
  None: { mode: MessageSecurityMode.None, policy: SecurityPolicy.None },
  Sign: { mode: MessageSecurityMode.Sign, policy: SecurityPolicy.Basic256Sha256 },
  SignAndEncrypt: { mode: MessageSecurityMode.SignAndEncrypt, policy: SecurityPolicy.Basic256Sha256 },
};

/** The users of the matrix and their roles; the other callers are anonymous with an application certificate or none. */
const USERS: Partial<Record<CallerName, { userName: string; roles: Role[] }>> = {
  "no roles": { userName: "matrix-no-roles", roles: [] },
  Discovery: { userName: "matrix-discovery", roles: ["DiscoveryAdmin"] },
  CAAdmin: { userName: "matrix-ca", roles: ["CertificateAuthorityAdmin"] },
  RAAdmin: { userName: "matrix-ra", roles: ["RegistrationAuthorityAdmin"] },
  Security: { userName: "matrix-security", roles: ["SecurityAdmin"] },
};
const passwordOf = (userName: string) => `${userName}-password`;

/** row -> caller -> channel -> code. */
type Matrix = Map<string, Map<CallerName, Partial<Record<ChannelOrNone, string>>>>;

/** Parses EXPECTED ("#" lines are comments, the first line names the columns). */
function parseExpected(text: string): Matrix {
  const matrix: Matrix = new Map();
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  assert.deepEqual(lines[0].split("|").map((c) => c.trim()).slice(1), [...CALLERS], "EXPECTED's columns are the callers, in order");
  for (const line of lines.slice(1)) {
    const [row, ...cells] = line.split("|").map((c) => c.trim());
    assert.equal(cells.length, CALLERS.length, `EXPECTED row ${row} has ${cells.length} cells, not ${CALLERS.length}`);
    assert.ok(!matrix.has(row), `EXPECTED names ${row} twice`);
    const byCaller = new Map<CallerName, Partial<Record<ChannelOrNone, string>>>();
    CALLERS.forEach((caller, i) => {
      const [sign, encrypt = sign] = cells[i].split("/");
      byCaller.set(caller, row === NONE_ROW ? { None: sign } : { Sign: sign, SignAndEncrypt: encrypt });
    });
    matrix.set(row, byCaller);
  }
  return matrix;
}

function codeOf(status: StatusCode): string {
  if (status.value === StatusCodes.Good.value) return "ok";
  if (status.value === StatusCodes.BadUserAccessDenied.value) return "deny";
  if (status.value === StatusCodes.BadSecurityModeInsufficient.value) return "mode";
  return status.name.replace(/^Bad/, "");
}

/** The status a client helper's call ended with: Good, or the Bad status it threw. */
async function statusOf(work: Promise<unknown>): Promise<StatusCode> {
  try {
    await work;
    return StatusCodes.Good;
  } catch (e) {
    if (e instanceof GdsCallError || e instanceof CallFailed) return e.statusCode;
    throw e;
  }
}

/** A registered application: its ApplicationId (`ns=1;g=...`), GUID and record. */
interface App {
  id: string;
  guid: string;
  fields: ApplicationFields;
}

/** What the cells need, made once per backend. */
interface Fixture {
  gds: TestGds;
  /** The application the role holders act on. */
  target: App;
  /** The application self:other acts on: registered, not the caller's. */
  other: App;
  /** The applications self:own acts as, one per channel (Unregister ends each). */
  self: Record<Channel, App & { identity: ClientIdentity }>;
  /** An application whose GDS-issued certificate was revoked. */
  revoked: ClientIdentity;
  keys: CryptoKeyPair;
  csrs: Map<string, Buffer>;
  /** A valid certificate the GDS issued (CheckRevocationStatus). */
  issued: Buffer;
  /** A certificate for the GDS's current key, issued by its CA (UpdateCertificate). */
  gdsCertificate: Buffer;
  caCertificate: Buffer;
  /** The GDS's channel trust list as it is, encoded (Write and CloseAndUpdate write it back). */
  channelTrustList: Buffer;
  /** A certificate issued by the GDS's CA, not yet in the channel trust list (AddCertificate, RemoveCertificate). */
  addable: Buffer;
  directoryObject: NodeId;
  requestsObject: NodeId;
  groupTrustLists: Record<string, NodeId>;
  /** object -> method BrowseName -> method NodeId. */
  methods: Map<string, Map<string, NodeId>>;
  sequence: number;
}

/** A cell being computed: who calls, over which channel, with which session, acting on which application. */
interface Cell {
  caller: CallerName;
  channel: Channel;
  open: GdsSession;
  app: App;
}

/** How one row of the matrix is called. */
interface Case {
  row: string;
  run(cell: Cell, f: Fixture): Promise<StatusCode>;
  /** False when the method is not in the address space (the row is skipped and said so). */
  present?(f: Fixture): boolean;
  /** Callers whose cell runs after every other cell: success ends their identity. */
  last?: readonly CallerName[];
}

const SETUP_ACTOR = "access-matrix setup";
/** Requests made in setup: neither an admin nor the application, so they wait for approval. */
const SETUP_REQUESTER: Requester = { actor: SETUP_ACTOR, thumbprint: null, trusted: false, admin: false, self: false };

async function csrOf(f: Fixture, app: App): Promise<Buffer> {
  let csr = f.csrs.get(app.fields.applicationUri);
  if (!csr) f.csrs.set(app.fields.applicationUri, (csr = await makeCsr(f.keys, { uri: app.fields.applicationUri })));
  return csr;
}

/** A New request of `app` that the caller did not make; returns its RequestId. */
async function pendingRequest(f: Fixture, app: App): Promise<string> {
  return formatApplicationId(await f.gds.gds.services.certificates.startSigningRequest(SETUP_REQUESTER, app.guid, null, null, await csrOf(f, app)));
}

/** An approved request of `app`, ready for FinishRequest, and its certificate. */
async function approvedRequest(f: Fixture, app: App): Promise<{ requestId: string; certificate: Buffer }> {
  const requestId = await pendingRequest(f, app);
  const row = await f.gds.gds.services.certificates.approveRequest(SETUP_ACTOR, requestId.split("g=")[1]);
  return { requestId, certificate: row.der };
}

async function registered(f: Fixture, fields: ApplicationFields): Promise<App> {
  const guid = await f.gds.gds.services.directory.registerApplication(SETUP_ACTOR, fields);
  return { id: formatApplicationId(guid), guid, fields };
}

const methodOf = (f: Fixture, object: NodeId, name: string): NodeId | undefined => f.methods.get(object.toString())?.get(name);

/** Calls a method by BrowseName on `object` and returns status and outputs. */
async function invoke(cell: Cell, f: Fixture, object: NodeId, name: string, inputArguments: VariantLike[] = []): Promise<{ status: StatusCode; outputs: unknown[] }> {
  const methodId = methodOf(f, object, name);
  if (!methodId) throw new Error(`${object.toString()} has no method ${name}`);
  const r = await cell.open.session.call({ objectId: object, methodId, inputArguments });
  return { status: r.statusCode, outputs: (r.outputArguments ?? []).map((v) => v.value) };
}

const nodeIdArg = (id: string | NodeId): VariantLike => ({ dataType: DataType.NodeId, value: typeof id === "string" ? NodeId.resolveNodeId(id) : id });
const handleArg = (handle: number): VariantLike => ({ dataType: DataType.UInt32, value: handle });
/** A handle no Open returned: what a caller that could not open passes on. */
const UNKNOWN_HANDLE = 0xfffffff0;

/** Opens `trustList` in the cell's session, or answers UNKNOWN_HANDLE when the caller may not. */
async function openHandle(cell: Cell, f: Fixture, trustList: NodeId, mode: number): Promise<number> {
  const { status, outputs } = await invoke(cell, f, trustList, "Open", [{ dataType: DataType.Byte, value: mode }]);
  return status.isGood() ? (outputs[0] as number) : UNKNOWN_HANDLE;
}

async function closeHandle(cell: Cell, f: Fixture, trustList: NodeId, handle: number): Promise<void> {
  if (handle !== UNKNOWN_HANDLE) await invoke(cell, f, trustList, "Close", [handleArg(handle)]);
}

/** Calls `name` with a handle opened for it (Read or Write+EraseExisting), then closes the handle. */
async function withHandle(cell: Cell, f: Fixture, trustList: NodeId, mode: number, name: string, args: (handle: number) => Promise<VariantLike[]> | VariantLike[]): Promise<StatusCode> {
  const handle = await openHandle(cell, f, trustList, mode);
  const { status } = await invoke(cell, f, trustList, name, await args(handle));
  // Close, CloseAndUpdate and a refused caller leave nothing open; otherwise the handle goes.
  if (!["Close", "CloseAndUpdate"].includes(name) || !status.isGood()) await closeHandle(cell, f, trustList, handle);
  return status;
}

const thumbprintOf = (der: Buffer) => createHash("sha1").update(der).digest("hex");

/**
 * The rows of a TrustList object. A read-only one (the groups') answers its write-side methods
 * with a read handle, where an authorized caller meets Bad_NotWritable or Bad_InvalidState; the
 * writable one (ServerConfiguration's) gets a write handle and the trust list as it is.
 */
function trustListCases(prefix: string, trustListOf: (f: Fixture) => NodeId, writable: boolean): Case[] {
  const opened = (name: string, mode: number, args: (handle: number, f: Fixture, cell: Cell) => Promise<VariantLike[]> | VariantLike[]): Case["run"] =>
    (cell, f) => withHandle(cell, f, trustListOf(f), mode, name, (handle) => args(handle, f, cell));
  const writeMode = writable ? 0x06 : 0x01;
  const openOnly = (mode: number): Case["run"] => async (cell, f) => {
    const { status, outputs } = await invoke(cell, f, trustListOf(f), "Open", [{ dataType: DataType.Byte, value: mode }]);
    if (status.isGood()) await closeHandle(cell, f, trustListOf(f), outputs[0] as number);
    return status;
  };
  return [
    { row: `${prefix}.Open(Read)`, run: openOnly(0x01) },
    { row: `${prefix}.Open(Write)`, run: openOnly(0x06) },
    {
      row: `${prefix}.OpenWithMasks`,
      run: async (cell, f) => {
        const { status, outputs } = await invoke(cell, f, trustListOf(f), "OpenWithMasks", [{ dataType: DataType.UInt32, value: 15 }]);
        if (status.isGood()) await closeHandle(cell, f, trustListOf(f), outputs[0] as number);
        return status;
      },
    },
    { row: `${prefix}.Read`, run: opened("Read", 0x01, (h) => [handleArg(h), { dataType: DataType.Int32, value: 65536 }]) },
    { row: `${prefix}.GetPosition`, run: opened("GetPosition", 0x01, (h) => [handleArg(h)]) },
    { row: `${prefix}.SetPosition`, run: opened("SetPosition", 0x01, (h) => [handleArg(h), { dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [0, 0] }]) },
    { row: `${prefix}.Close`, run: opened("Close", 0x01, (h) => [handleArg(h)]) },
    { row: `${prefix}.Write`, run: opened("Write", writeMode, (h, f) => [handleArg(h), { dataType: DataType.ByteString, value: f.channelTrustList }]) },
    {
      row: `${prefix}.CloseAndUpdate`,
      run: opened("CloseAndUpdate", writeMode, async (h, f, cell) => {
        if (writable && h !== UNKNOWN_HANDLE) await invoke(cell, f, trustListOf(f), "Write", [handleArg(h), { dataType: DataType.ByteString, value: f.channelTrustList }]);
        return [handleArg(h)];
      }),
    },
    {
      row: `${prefix}.AddCertificate`,
      run: async (cell, f) => (await invoke(cell, f, trustListOf(f), "AddCertificate", [{ dataType: DataType.ByteString, value: f.addable }, { dataType: DataType.Boolean, value: true }])).status,
    },
    {
      row: `${prefix}.RemoveCertificate`,
      run: async (cell, f) => (await invoke(cell, f, trustListOf(f), "RemoveCertificate", [{ dataType: DataType.String, value: thumbprintOf(f.addable) }, { dataType: DataType.Boolean, value: true }])).status,
    },
  ];
}

const SERVER_CONFIGURATION = NodeId.resolveNodeId(SC.object);
const SERVER_TRUST_LIST = NodeId.resolveNodeId(SC.trustList);
/** ServerConfiguration.ResetToServerDefaults (ns0, 1.05). */
const RESET_TO_SERVER_DEFAULTS = "ns=0;i=25709";
const certificateClient = (cell: Cell) => new CertificateClient(cell.open.directory);

const CASES: Case[] = [
  { row: "Directory.FindApplications", run: (cell) => statusOf(cell.open.directory.findApplications(cell.app.fields.applicationUri)) },
  { row: "Directory.GetApplication", run: (cell) => statusOf(cell.open.directory.getApplication(cell.app.id)) },
  { row: "Directory.QueryApplications", run: (cell) => statusOf(cell.open.directory.queryApplications({ maxRecordsToReturn: 10 })) },
  { row: "Directory.QueryServers", run: (cell) => statusOf(cell.open.directory.queryServers({ maxRecordsToReturn: 10 })) },
  { row: "Directory.RegisterApplication", run: (cell, f) => statusOf(cell.open.directory.registerApplication(clientRecord(`matrix-registered-${++f.sequence}`))) },
  { row: "Directory.UpdateApplication", run: (cell) => statusOf(cell.open.directory.updateApplication(cell.app.id, cell.app.fields)) },
  {
    row: "Directory.UnregisterApplication",
    // Every caller but self:own gets a record of its own to remove, so that a wrong Good harms no other cell.
    run: async (cell, f) => statusOf(cell.open.directory.unregisterApplication((cell.caller === "self:own" ? cell.app : await registered(f, clientRecord(`matrix-victim-${++f.sequence}`))).id)),
    last: ["self:own"],
  },
  { row: "Directory.StartSigningRequest", run: async (cell, f) => statusOf(certificateClient(cell).startSigningRequest(cell.app.id, await csrOf(f, cell.app))) },
  { row: "Directory.StartNewKeyPairRequest", run: (cell) => statusOf(certificateClient(cell).startNewKeyPairRequest(cell.app.id, { subjectName: "CN=access matrix", privateKeyFormat: "PEM" })) },
  { row: "Directory.FinishRequest", run: async (cell, f) => statusOf(certificateClient(cell).finishRequest(cell.app.id, (await approvedRequest(f, cell.app)).requestId)) },
  { row: "Directory.GetCertificateGroups", run: (cell) => statusOf(certificateClient(cell).getCertificateGroups(cell.app.id)) },
  { row: "Directory.GetTrustList", run: (cell) => statusOf(certificateClient(cell).getTrustList(cell.app.id)) },
  { row: "Directory.GetCertificateStatus", run: (cell) => statusOf(certificateClient(cell).getCertificateStatus(cell.app.id)) },
  { row: "Directory.GetCertificates", run: (cell) => statusOf(certificateClient(cell).getCertificates(cell.app.id)) },
  // A certificate of its own per cell: a wrong Good revokes nothing another cell relies on.
  { row: "Directory.RevokeCertificate", run: async (cell, f) => statusOf(certificateClient(cell).revokeCertificate(cell.app.id, (await approvedRequest(f, cell.app)).certificate)) },
  { row: "Directory.CheckRevocationStatus", run: (cell, f) => statusOf(certificateClient(cell).checkRevocationStatus(f.issued)) },
  { row: "CertificateRequests.ListRequests", run: async (cell, f) => (await invoke(cell, f, f.requestsObject, "ListRequests", [{ dataType: DataType.Boolean, value: true }])).status },
  { row: "CertificateRequests.ApproveRequest", run: async (cell, f) => (await invoke(cell, f, f.requestsObject, "ApproveRequest", [nodeIdArg(await pendingRequest(f, cell.app))])).status },
  {
    row: "CertificateRequests.RejectRequest",
    run: async (cell, f) => (await invoke(cell, f, f.requestsObject, "RejectRequest", [nodeIdArg(await pendingRequest(f, cell.app)), { dataType: DataType.String, value: "access matrix" }])).status,
  },
  ...CERTIFICATE_GROUPS.flatMap((group) => trustListCases(`${group.name}.TrustList`, (f) => f.groupTrustLists[group.name], false)),
  ...trustListCases("ServerConfiguration.TrustList", () => SERVER_TRUST_LIST, true),
  { row: "ServerConfiguration.CreateSigningRequest", run: (cell) => statusOf(createSigningRequest(cell.open.session, false)) },
  { row: "ServerConfiguration.GetRejectedList", run: (cell) => statusOf(getRejectedList(cell.open.session)) },
  {
    row: "ServerConfiguration.GetCertificates",
    present: (f) => methodOf(f, SERVER_CONFIGURATION, "GetCertificates") !== undefined,
    run: async (cell, f) => (await invoke(cell, f, SERVER_CONFIGURATION, "GetCertificates", [nodeIdArg(SC.DefaultApplicationGroup)])).status,
  },
  { row: "ServerConfiguration.UpdateCertificate", run: (cell, f) => statusOf(updateCertificate(cell.open.session, f.gdsCertificate, [f.caCertificate])) },
  { row: "ServerConfiguration.CancelChanges", run: async (cell, f) => (await invoke(cell, f, SERVER_CONFIGURATION, "CancelChanges")).status },
  { row: "ServerConfiguration.ApplyChanges", run: (cell) => statusOf(applyChanges(cell.open.session)) },
  {
    row: "ServerConfiguration.ResetToServerDefaults",
    run: async (cell) => (await cell.open.session.call({ objectId: SERVER_CONFIGURATION, methodId: NodeId.resolveNodeId(RESET_TO_SERVER_DEFAULTS) })).statusCode,
  },
];

/** How `caller` connects (its channel aside). */
function clientOptions(caller: CallerName, channel: Channel, f: Fixture): ClientOptions {
  const user = USERS[caller];
  if (user) return { user: { userName: user.userName, password: passwordOf(user.userName) } };
  if (caller === "self:own" || caller === "self:other") return { application: f.self[channel].identity };
  if (caller === "revoked") return { application: f.revoked };
  return {};
}

/** The application a caller's cell acts on. */
function appOf(caller: CallerName, channel: Channel, f: Fixture): App {
  if (caller === "self:own") return f.self[channel];
  if (caller === "self:other") return f.other;
  return f.target;
}

/** The session a caller uses on a channel: self:own and self:other are one application's session. */
const sessionKey = (caller: CallerName, channel: Channel) => `${caller.startsWith("self:") ? "self" : caller} ${channel}`;

async function pollUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) {
      process.stderr.write(`${what}: not within ${timeoutMs} ms\n`);
      return false;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function makeFixture(gds: TestGds, scratch: string): Promise<{ fixture: Fixture; ca: TestCa }> {
  const services = gds.gds.services;
  for (const user of Object.values(USERS)) await services.users.addUser("test", user!.userName, user!.roles, passwordOf(user!.userName));
  const ca = await TestCa.load(path.dirname(gds.caCertificateFile));
  const admin = await openGdsSession(gds, { user: { userName: "admin", password: ADMIN_PASSWORD } });
  try {
    const selfApp = async (name: string) => {
      const identity = await issuedClient(gds, scratch, name);
      const [record] = await services.directory.findApplications(identity.applicationUri);
      return { id: formatApplicationId(record.applicationId), guid: record.applicationId, fields: clientRecord(name), identity };
    };
    const revoked = await issuedClient(gds, scratch, "matrix-revoked");
    assert.equal((await services.certificates.revokeSerials(SETUP_ACTOR, [revoked.serial], "access matrix: a revoked caller")).length, 1);
    const namespaces = (await admin.session.read({ nodeId: "i=2255", attributeId: 13 })).value.value as string[];
    const d = admin.directory;
    const f: Fixture = {
      gds,
      target: { id: "", guid: "", fields: clientRecord("matrix-target") },
      other: { id: "", guid: "", fields: clientRecord("matrix-other") },
      self: { Sign: await selfApp("matrix-self-sign"), SignAndEncrypt: await selfApp("matrix-self-sae") },
      revoked,
      keys: (await testKeyPair()).keys,
      csrs: new Map(),
      issued: Buffer.alloc(0),
      gdsCertificate: await ca.signCsr(await createSigningRequest(admin.session, false)),
      caCertificate: ca.certificateDer,
      channelTrustList: encodeTrustList(await readTrustList(admin.session, SERVER_TRUST_LIST), 15),
      addable: (await ca.issueWithKey("urn:opcua-gds:test:access-matrix:addable")).certificate,
      directoryObject: d.nodeId(141),
      requestsObject: new NodeId(NodeId.NodeIdType.NUMERIC, OPCUA_GDS_IDS.CertificateRequests, namespaces.indexOf(OPCUA_GDS_NAMESPACE_URI)),
      groupTrustLists: Object.fromEntries(CERTIFICATE_GROUPS.map((g) => [g.name, d.nodeId(g.trustListNumericId)])),
      methods: new Map(),
      sequence: 0,
    };
    f.target = await registered(f, f.target.fields);
    f.other = await registered(f, f.other.fields);
    f.issued = (await approvedRequest(f, f.target)).certificate;
    for (const object of [f.directoryObject, f.requestsObject, SERVER_CONFIGURATION, SERVER_TRUST_LIST, ...Object.values(f.groupTrustLists)]) {
      f.methods.set(object.toString(), await trustListMethods(admin.session, object));
    }
    // The revocation reaches the channel trust within seconds: wait until the revoked certificate is refused.
    await pollUntil("the revoked application certificate is refused", 30_000, async () => {
      try {
        await (await openGdsSession(gds, { application: revoked })).close();
        return false;
      } catch {
        return true;
      }
    });
    return { fixture: f, ca };
  } finally {
    await admin.close();
  }
}

/** Runs every cell, one at a time (one session per caller and channel), and returns the actual matrix. */
async function computeMatrix(f: Fixture, cases: Case[], log: (line: string) => void): Promise<Matrix> {
  const actual: Matrix = new Map();
  const put = (row: string, caller: CallerName, channel: ChannelOrNone, code: string) => {
    if (!actual.has(row)) actual.set(row, new Map());
    const byCaller = actual.get(row)!;
    byCaller.set(caller, { ...byCaller.get(caller), [channel]: code });
  };
  const sessions = new Map<string, GdsSession | Error>();
  const deferred: Array<() => Promise<void>> = [];
  const runCell = async (c: Case, cell: Cell) => {
    let code: string;
    try {
      code = codeOf(await c.run(cell, f));
    } catch (e) {
      code = `error:${(e as Error).message.split("\n")[0].slice(0, 60)}`;
    }
    put(c.row, cell.caller, cell.channel, code);
  };
  try {
    for (const channel of CHANNELS) {
      for (const caller of CALLERS) {
        const key = sessionKey(caller, channel);
        if (!sessions.has(key)) {
          sessions.set(key, await openGdsSession(f.gds, { ...clientOptions(caller, channel, f), ...MODES[channel] }).catch((e: Error) => e));
        }
        const open = sessions.get(key)!;
        if (open instanceof Error) {
          log(`${caller} over ${channel}: no secure channel or session (${open.message.split("\n")[0].slice(0, 160)})`);
          for (const c of cases) put(c.row, caller, channel, "refused");
          continue;
        }
        const cell: Cell = { caller, channel, open, app: appOf(caller, channel, f) };
        for (const c of cases) {
          if (c.last?.includes(caller)) deferred.push(() => runCell(c, cell));
          else await runCell(c, cell);
        }
      }
    }
    for (const run of deferred) await run();
    for (const caller of CALLERS) {
      const opened = await openGdsSession(f.gds, { ...clientOptions(caller, "SignAndEncrypt", f), ...MODES.None }).catch(() => null);
      await opened?.close();
      put(NONE_ROW, caller, "None", opened ? "ok" : "nosession");
    }
  } finally {
    for (const s of sessions.values()) if (!(s instanceof Error)) await s.close().catch(() => undefined);
  }
  return actual;
}

/** The printed matrix (a cell "a/b" is Sign/SignAndEncrypt, "!" marks a mismatch) and the mismatching cells. */
function render(expected: Matrix, actual: Matrix, rows: string[]): { lines: string[]; mismatches: string[]; cells: number } {
  const mismatches: string[] = [];
  let cells = 0;
  const table = rows.map((row) => {
    const channels: ChannelOrNone[] = row === NONE_ROW ? ["None"] : [...CHANNELS];
    return [
      row,
      ...CALLERS.map((caller) => {
        const codes = channels.map((channel) => {
          cells++;
          const want = expected.get(row)?.get(caller)?.[channel];
          const got = actual.get(row)?.get(caller)?.[channel] ?? "missing";
          if (want !== got) mismatches.push(`${row} x ${caller} x ${channel}: expected ${want}, got ${got}`);
          return { got, bad: want !== got };
        });
        const text = codes.every((c) => c.got === codes[0].got) ? codes[0].got : codes.map((c) => c.got).join("/");
        return text + (codes.some((c) => c.bad) ? "!" : "");
      }),
    ];
  });
  const header = ["method", ...CALLERS];
  const widths = header.map((_, i) => Math.max(...[header, ...table].map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join(" | ").trimEnd();
  return { lines: [line(header), widths.map((w) => "-".repeat(w)).join("-+-"), ...table.map(line)], mismatches, cells };
}

for (const backend of BACKENDS) {
  describe(`access-control matrix (${backend})`, () => {
    let gds: TestGds;
    let fixture: Fixture;
    let ca: TestCa | undefined;
    let scratch: string | undefined;

    before(async () => {
      gds = await startTestGds(backend);
      scratch = await tempDir("access-matrix");
      ({ fixture, ca } = await makeFixture(gds, scratch));
    });
    after(async () => {
      await gds?.stop();
      await disposeClientStores();
      await ca?.dispose();
      if (scratch) await fs.rm(scratch, { recursive: true, force: true });
    });

    it("every method answers every caller over None, Sign and SignAndEncrypt as the expected table says", async (t) => {
      for (const role of ROLES) assert.ok(Object.values(USERS).some((u) => u.roles.length === 1 && u.roles[0] === role), `no caller holds exactly the role ${role}`);
      const expected = parseExpected(EXPECTED);
      const order = [...expected.keys()];
      for (const c of CASES) assert.ok(expected.has(c.row), `EXPECTED has no row ${c.row}`);
      for (const row of order) assert.ok(row === NONE_ROW || CASES.some((c) => c.row === row), `no case calls the EXPECTED row ${row}`);
      const present = CASES.filter((c) => c.present?.(fixture) ?? true).sort((a, b) => order.indexOf(a.row) - order.indexOf(b.row));
      for (const c of CASES) if (!present.includes(c)) t.diagnostic(`${c.row}: the method is not in this server's address space; row skipped`);

      const startedMs = Date.now();
      const actual = await computeMatrix(fixture, present, (l) => t.diagnostic(l));
      const seconds = ((Date.now() - startedMs) / 1000).toFixed(1);
      const rows = [...present.map((c) => c.row), NONE_ROW];
      const { lines, mismatches, cells } = render(expected, actual, rows);
      for (const line of lines) t.diagnostic(line);
      t.diagnostic(`${present.length} methods x ${CALLERS.length} callers x ${CHANNELS.length} channels + the None row: ${cells} cells (computed in ${seconds} s), ${mismatches.length} mismatching`);
      assert.equal(mismatches.length, 0, `mismatching cells:\n${mismatches.join("\n")}`);
    });
  });
}
