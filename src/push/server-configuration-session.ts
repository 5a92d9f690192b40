import {
  AttributeIds,
  DataType,
  NodeId,
  ObjectIds,
  VariantArrayType,
  makeBrowsePath,
  type ClientSession,
  type OPCUAClient,
  type Variant,
} from "node-opcua";
import { readTrustList } from "../client/trust-list-reader";
import { PushFailure, type TrustListLists } from "../domain/push";
import { encodeTrustList, TrustListMasks } from "../encoding/trust-list-encoding";
import type { DeviceCapabilities, DeviceSession } from "../services/push-ports";
import { callFailure, statusNameIn } from "./push-failures";

/** Path of the ServerConfiguration object below the Server object (OPC 10000-12 §7.10.1). */
const CONFIGURATION = "/0:ServerConfiguration";
const GROUP = `${CONFIGURATION}/0:CertificateGroups/0:DefaultApplicationGroup`;
const TRUST_LIST = `${GROUP}/0:TrustList`;

/** Everything the push needs, found by BrowseName in one TranslateBrowsePathsToNodeIds: devices differ in NodeIds. */
const PATHS = {
  configuration: CONFIGURATION,
  createSigningRequest: `${CONFIGURATION}/0:CreateSigningRequest`,
  updateCertificate: `${CONFIGURATION}/0:UpdateCertificate`,
  applyChanges: `${CONFIGURATION}/0:ApplyChanges`,
  cancelChanges: `${CONFIGURATION}/0:CancelChanges`,
  getRejectedList: `${CONFIGURATION}/0:GetRejectedList`,
  supportedPrivateKeyFormats: `${CONFIGURATION}/0:SupportedPrivateKeyFormats`,
  maxTrustListSize: `${CONFIGURATION}/0:MaxTrustListSize`,
  maxByteStringLength: "/0:ServerCapabilities/0:MaxByteStringLength",
  group: GROUP,
  certificateTypes: `${GROUP}/0:CertificateTypes`,
  trustList: TRUST_LIST,
  open: `${TRUST_LIST}/0:Open`,
  openWithMasks: `${TRUST_LIST}/0:OpenWithMasks`,
  read: `${TRUST_LIST}/0:Read`,
  write: `${TRUST_LIST}/0:Write`,
  close: `${TRUST_LIST}/0:Close`,
  closeAndUpdate: `${TRUST_LIST}/0:CloseAndUpdate`,
  addCertificate: `${TRUST_LIST}/0:AddCertificate`,
} as const;

type NodeName = keyof typeof PATHS;

/** Open mode Write (0x02) + EraseExisting (0x04) of OPC 10000-5 FileType. */
const MODE_WRITE_ERASE = 0x06;
/** Chunk size when the device sets no MaxByteStringLength: well below common message limits. */
const DEFAULT_CHUNK = 64 * 1024;

type Argument = { dataType: DataType; value: unknown; arrayType?: VariantArrayType };

/** A DeviceSession over one node-opcua session on a device's ServerConfiguration. */
export class ServerConfigurationSession implements DeviceSession {
  private closed = false;
  private maxByteStringLength = 0;
  private known: DeviceCapabilities | null = null;

  private constructor(
    private readonly client: OPCUAClient,
    private readonly session: ClientSession,
    private readonly nodes: Map<NodeName, NodeId>,
    readonly serverCertificate: Buffer,
    private readonly user: string,
  ) {}

  /** Finds the device's ServerConfiguration nodes; a device without them cannot take pushes. */
  static async open(client: OPCUAClient, session: ClientSession, serverCertificate: Buffer, user: string): Promise<ServerConfigurationSession> {
    const names = Object.keys(PATHS) as NodeName[];
    const results = await session.translateBrowsePath(names.map((n) => makeBrowsePath(ObjectIds.Server, PATHS[n])));
    const nodes = new Map<NodeName, NodeId>();
    names.forEach((name, i) => {
      const target = results[i]?.targets?.[0];
      if (results[i]?.statusCode.isGood() && target) nodes.set(name, target.targetId as unknown as NodeId);
    });
    const missing = (["createSigningRequest", "updateCertificate", "group", "trustList"] as NodeName[]).filter((n) => !nodes.has(n));
    if (missing.length === 4) throw new PushFailure("unsupported", "the device has no ServerConfiguration object: it does not support push certificate management (OPC 10000-12 §7.10)");
    return new ServerConfigurationSession(client, session, nodes, serverCertificate, user);
  }

  private node(name: NodeName, what: string): NodeId {
    const id = this.nodes.get(name);
    if (!id) throw new PushFailure("unsupported", `the device's ServerConfiguration has no ${what}`);
    return id;
  }

  /** Calls a method; a Bad status becomes a PushFailure naming the method. */
  private async call(objectName: NodeName, methodName: NodeName, label: string, inputArguments: Argument[]): Promise<Variant[]> {
    const objectId = this.node(objectName, label.split(".")[0]);
    const methodId = this.node(methodName, label);
    let result;
    try {
      result = await this.session.call({ objectId, methodId, inputArguments });
    } catch (e) {
      const status = statusNameIn((e as Error).message ?? "");
      throw callFailure(status ?? "BadCommunicationError", { method: label, user: this.user });
    }
    if (!result.statusCode.isGood()) throw callFailure(result.statusCode.name, { method: label, user: this.user });
    return result.outputArguments ?? [];
  }

  async capabilities(): Promise<DeviceCapabilities> {
    const names: NodeName[] = ["supportedPrivateKeyFormats", "maxTrustListSize", "certificateTypes", "maxByteStringLength"];
    const present = names.filter((n) => this.nodes.has(n));
    const values = await this.session.read(present.map((n) => ({ nodeId: this.nodes.get(n)!, attributeId: AttributeIds.Value })));
    const value = (n: NodeName): unknown => {
      const i = present.indexOf(n);
      return i >= 0 && values[i].statusCode.isGood() ? values[i].value.value : undefined;
    };
    const formats = value("supportedPrivateKeyFormats");
    const types = value("certificateTypes");
    this.maxByteStringLength = Number(value("maxByteStringLength") ?? 0) || 0;
    this.known = {
      supportedPrivateKeyFormats: Array.isArray(formats) ? formats.map(String) : [],
      maxTrustListSize: Number(value("maxTrustListSize") ?? 0) || 0,
      certificateTypeIds: Array.isArray(types) ? types.map((t: NodeId) => (t.namespace === 0 && typeof t.value === "number" ? t.value : -1)) : [],
    };
    return this.known;
  }

  async writeTrustList(content: TrustListLists): Promise<{ applyChangesRequired: boolean }> {
    const encoded = encodeTrustList(content, TrustListMasks.All);
    const limit = (this.known ?? (await this.capabilities())).maxTrustListSize;
    if (limit > 0 && encoded.length > limit) {
      throw new PushFailure("unsupported", `the trust list is ${encoded.length} bytes but the device accepts at most ${limit} (MaxTrustListSize)`);
    }
    const chunk = this.maxByteStringLength > 0 ? Math.min(DEFAULT_CHUNK, this.maxByteStringLength) : DEFAULT_CHUNK;
    const [handle] = await this.call("trustList", "open", "TrustList.Open", [{ dataType: DataType.Byte, value: MODE_WRITE_ERASE }]);
    const fileHandle: Argument = { dataType: DataType.UInt32, value: handle.value };
    let finished = false;
    try {
      for (let offset = 0; offset < encoded.length; offset += chunk) {
        await this.call("trustList", "write", "TrustList.Write", [fileHandle, { dataType: DataType.ByteString, value: encoded.subarray(offset, offset + chunk) }]);
      }
      const [applyChangesRequired] = await this.call("trustList", "closeAndUpdate", "TrustList.CloseAndUpdate", [fileHandle]);
      finished = true;
      return { applyChangesRequired: applyChangesRequired?.value === true };
    } finally {
      // Never leave the device's file transaction open: Close discards what was written.
      if (!finished) await this.call("trustList", "close", "TrustList.Close", [fileHandle]).catch(() => undefined);
    }
  }

  async readTrustList(): Promise<TrustListLists> {
    const methods = new Map<string, NodeId>();
    for (const [name, key] of [["OpenWithMasks", "openWithMasks"], ["Read", "read"], ["Close", "close"]] as const) {
      methods.set(name, this.node(key, `TrustList.${name}`));
    }
    const chunk = this.maxByteStringLength > 0 ? Math.min(DEFAULT_CHUNK, this.maxByteStringLength) : DEFAULT_CHUNK;
    try {
      return await readTrustList(this.session, this.node("trustList", "TrustList"), TrustListMasks.All, chunk, methods);
    } catch (e) {
      if (e instanceof PushFailure) throw e;
      const status = statusNameIn((e as Error).message ?? "");
      throw status ? callFailure(status, { method: "TrustList.Read", user: this.user }) : new PushFailure("verification", `the trust list could not be read back: ${(e as Error).message}`);
    }
  }

  async createSigningRequest(certificateTypeId: number, regeneratePrivateKey: boolean, nonce: Buffer): Promise<Buffer> {
    const [csr] = await this.call("configuration", "createSigningRequest", "CreateSigningRequest", [
      { dataType: DataType.NodeId, value: this.node("group", "DefaultApplicationGroup") },
      { dataType: DataType.NodeId, value: new NodeId(NodeId.NodeIdType.NUMERIC, certificateTypeId, 0) },
      // A null SubjectName keeps the subject of the device's current certificate.
      { dataType: DataType.String, value: null },
      { dataType: DataType.Boolean, value: regeneratePrivateKey },
      { dataType: DataType.ByteString, value: nonce },
    ]);
    const der = csr?.value as Buffer | null;
    if (!der || der.length === 0) throw new PushFailure("rejected", "the device answered CreateSigningRequest with an empty certificate request");
    return Buffer.from(der);
  }

  async updateCertificate(certificateTypeId: number, certificate: Buffer, issuerCertificates: Buffer[], privateKeyFormat: string, privateKey: Buffer | null): Promise<{ applyChangesRequired: boolean }> {
    const [applyChangesRequired] = await this.call("configuration", "updateCertificate", "UpdateCertificate", [
      { dataType: DataType.NodeId, value: this.node("group", "DefaultApplicationGroup") },
      { dataType: DataType.NodeId, value: new NodeId(NodeId.NodeIdType.NUMERIC, certificateTypeId, 0) },
      { dataType: DataType.ByteString, value: certificate },
      { dataType: DataType.ByteString, arrayType: VariantArrayType.Array, value: issuerCertificates },
      { dataType: DataType.String, value: privateKeyFormat },
      { dataType: DataType.ByteString, value: privateKey },
    ]);
    return { applyChangesRequired: applyChangesRequired?.value === true };
  }

  async applyChanges(): Promise<void> {
    try {
      await this.call("configuration", "applyChanges", "ApplyChanges", []);
    } catch (e) {
      // The device restarting its endpoints may drop the channel before or right after answering.
      if (e instanceof PushFailure && (e.kind === "timeout" || e.kind === "unreachable")) return;
      throw e;
    }
  }

  async cancelChanges(): Promise<void> {
    if (!this.nodes.has("cancelChanges") || this.closed) return;
    await this.call("configuration", "cancelChanges", "CancelChanges", []).catch(() => undefined);
  }

  async getRejectedList(): Promise<Buffer[]> {
    const [certificates] = await this.call("configuration", "getRejectedList", "GetRejectedList", []);
    return ((certificates?.value as Buffer[] | null) ?? []).map((b) => Buffer.from(b));
  }

  async addCertificate(certificateDer: Buffer, isTrustedCertificate: boolean): Promise<void> {
    await this.call("trustList", "addCertificate", "TrustList.AddCertificate", [
      { dataType: DataType.ByteString, value: certificateDer },
      { dataType: DataType.Boolean, value: isTrustedCertificate },
    ]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.close().catch(() => undefined);
    await this.client.disconnect().catch(() => undefined);
  }
}
