import {
  DataType,
  LocalizedText,
  NodeId,
  StatusCodes,
  VariantArrayType,
  type ApplicationDescription,
  type CallMethodResult,
  type ClientSession,
  type ServerOnNetwork,
  type StatusCode,
  type VariantLike,
} from "node-opcua";
import type { ApplicationFields } from "../domain/application";
import { GdsCallError } from "./errors";

export { GdsCallError };

const GDS_NAMESPACE_URI = "http://opcfoundation.org/UA/GDS/";

/** Instance ids of the Directory object and its methods in the GDS NodeSet. */
export const DIRECTORY_METHOD_IDS = {
  FindApplications: 143,
  RegisterApplication: 146,
  UpdateApplication: 200,
  UnregisterApplication: 149,
  GetApplication: 216,
  QueryApplications: 992,
  QueryServers: 151,
  StartSigningRequest: 157,
  StartNewKeyPairRequest: 154,
  FinishRequest: 163,
  GetCertificateGroups: 508,
  GetTrustList: 204,
  GetCertificateStatus: 225,
  GetCertificates: 174,
  RevokeCertificate: 15005,
  CheckRevocationStatus: 177,
} as const;

/** Numeric ids of the certificate groups in the GDS namespace. */
export const CERTIFICATE_GROUP_IDS = { DefaultApplicationGroup: 615, DefaultHttpsGroup: 649, DefaultUserTokenGroup: 683 } as const;

export type DirectoryMethodName = keyof typeof DIRECTORY_METHOD_IDS;

/** An application record as read from the GDS. */
export interface RemoteApplicationRecord extends ApplicationFields {
  applicationId: string;
}

/** Filters of QueryApplications / QueryServers as a client passes them. */
export interface QueryOptions {
  startingRecordId?: number;
  maxRecordsToReturn?: number;
  applicationName?: string;
  applicationUri?: string;
  applicationType?: number;
  productUri?: string;
  capabilities?: string[];
}

/** A typed client of a GDS's Directory over an open session. */
export class DirectoryClient {
  private constructor(
    readonly session: ClientSession,
    readonly namespaceIndex: number,
  ) {}

  /** Resolves the GDS namespace of the server behind `session`. */
  static async create(session: ClientSession): Promise<DirectoryClient> {
    const dv = await session.read({ nodeId: "i=2255", attributeId: 13 });
    const uris = dv.value.value as string[];
    const index = uris.indexOf(GDS_NAMESPACE_URI);
    if (index < 0) throw new Error("the server has no GDS namespace: it is not a Global Discovery Server");
    return new DirectoryClient(session, index);
  }

  /** NodeId of a node of the GDS namespace. */
  nodeId(id: number): NodeId {
    return new NodeId(NodeId.NodeIdType.NUMERIC, id, this.namespaceIndex);
  }

  /** Calls a Directory method and returns the raw result (whatever its status). */
  async call(method: DirectoryMethodName | number, inputArguments: VariantLike[]): Promise<CallMethodResult> {
    const id = typeof method === "number" ? method : DIRECTORY_METHOD_IDS[method];
    return this.session.call({ objectId: this.nodeId(141), methodId: this.nodeId(id), inputArguments });
  }

  private async callOk(method: DirectoryMethodName, inputArguments: VariantLike[]): Promise<CallMethodResult> {
    const result = await this.call(method, inputArguments);
    if (result.statusCode.value !== StatusCodes.Good.value) throw new GdsCallError(method, result.statusCode);
    return result;
  }

  /** Builds an ApplicationRecordDataType the server can decode. */
  async applicationRecord(fields: ApplicationFields & { applicationId?: string }): Promise<unknown> {
    return this.session.constructExtensionObject(this.nodeId(1), {
      applicationId: fields.applicationId ? NodeId.resolveNodeId(fields.applicationId) : undefined,
      applicationUri: fields.applicationUri,
      applicationType: fields.applicationType,
      applicationNames: fields.applicationNames.map((n) => new LocalizedText({ locale: n.locale, text: n.text })),
      productUri: fields.productUri,
      discoveryUrls: fields.discoveryUrls,
      serverCapabilities: fields.serverCapabilities,
    });
  }

  /** RegisterApplication; returns the ApplicationId in string form. */
  async registerApplication(fields: ApplicationFields): Promise<string> {
    const record = await this.applicationRecord(fields);
    const r = await this.callOk("RegisterApplication", [{ dataType: DataType.ExtensionObject, value: record }]);
    return (r.outputArguments![0].value as NodeId).toString();
  }

  /** UpdateApplication of the record with `applicationId`. */
  async updateApplication(applicationId: string, fields: ApplicationFields): Promise<void> {
    const record = await this.applicationRecord({ ...fields, applicationId });
    await this.callOk("UpdateApplication", [{ dataType: DataType.ExtensionObject, value: record }]);
  }

  async unregisterApplication(applicationId: string): Promise<void> {
    await this.callOk("UnregisterApplication", [{ dataType: DataType.NodeId, value: NodeId.resolveNodeId(applicationId) }]);
  }

  async findApplications(applicationUri: string): Promise<RemoteApplicationRecord[]> {
    const r = await this.callOk("FindApplications", [{ dataType: DataType.String, value: applicationUri }]);
    return ((r.outputArguments![0].value as unknown[]) ?? []).map(toRecord);
  }

  async getApplication(applicationId: string): Promise<RemoteApplicationRecord> {
    const r = await this.callOk("GetApplication", [{ dataType: DataType.NodeId, value: NodeId.resolveNodeId(applicationId) }]);
    return toRecord(r.outputArguments![0].value);
  }

  async queryApplications(q: QueryOptions = {}): Promise<{ lastCounterResetTime: Date; nextRecordId: number; applications: ApplicationDescription[] }> {
    const r = await this.callOk("QueryApplications", [
      { dataType: DataType.UInt32, value: q.startingRecordId ?? 0 },
      { dataType: DataType.UInt32, value: q.maxRecordsToReturn ?? 0 },
      { dataType: DataType.String, value: q.applicationName ?? "" },
      { dataType: DataType.String, value: q.applicationUri ?? "" },
      { dataType: DataType.UInt32, value: q.applicationType ?? 0 },
      { dataType: DataType.String, value: q.productUri ?? "" },
      { dataType: DataType.String, arrayType: VariantArrayType.Array, value: q.capabilities ?? [] },
    ]);
    const [time, next, apps] = r.outputArguments!;
    return { lastCounterResetTime: time.value as Date, nextRecordId: next.value as number, applications: (apps.value as ApplicationDescription[]) ?? [] };
  }

  async queryServers(q: QueryOptions = {}): Promise<{ lastCounterResetTime: Date; servers: ServerOnNetwork[] }> {
    const r = await this.callOk("QueryServers", [
      { dataType: DataType.UInt32, value: q.startingRecordId ?? 0 },
      { dataType: DataType.UInt32, value: q.maxRecordsToReturn ?? 0 },
      { dataType: DataType.String, value: q.applicationName ?? "" },
      { dataType: DataType.String, value: q.applicationUri ?? "" },
      { dataType: DataType.String, value: q.productUri ?? "" },
      { dataType: DataType.String, arrayType: VariantArrayType.Array, value: q.capabilities ?? [] },
    ]);
    const [time, servers] = r.outputArguments!;
    return { lastCounterResetTime: time.value as Date, servers: (servers.value as ServerOnNetwork[]) ?? [] };
  }
}

/** What FinishRequest returns. */
export interface FinishedCertificate {
  certificate: Buffer;
  privateKey: Buffer | null;
  issuerCertificates: Buffer[];
}

function optionalGroup(client: DirectoryClient, group: number | null | undefined): VariantLike {
  return { dataType: DataType.NodeId, value: group ? client.nodeId(group) : NodeId.nullNodeId };
}

/** Pull certificate management calls (OPC 10000-12 §7.9) over a DirectoryClient. */
export class CertificateClient {
  constructor(readonly directory: DirectoryClient) {}

  private async callOk(method: DirectoryMethodName, inputArguments: VariantLike[]): Promise<CallMethodResult> {
    const result = await this.directory.call(method, inputArguments);
    if (result.statusCode.value !== StatusCodes.Good.value) throw new GdsCallError(method, result.statusCode);
    return result;
  }

  async startSigningRequest(applicationId: string, csrDer: Buffer, group?: number | null): Promise<string> {
    const r = await this.callOk("StartSigningRequest", [
      { dataType: DataType.NodeId, value: NodeId.resolveNodeId(applicationId) },
      optionalGroup(this.directory, group),
      { dataType: DataType.NodeId, value: NodeId.nullNodeId },
      { dataType: DataType.ByteString, value: csrDer },
    ]);
    return (r.outputArguments![0].value as NodeId).toString();
  }

  async startNewKeyPairRequest(applicationId: string, options: { subjectName: string; domainNames?: string[]; privateKeyFormat: "PFX" | "PEM"; password?: string; group?: number | null }): Promise<string> {
    const r = await this.callOk("StartNewKeyPairRequest", [
      { dataType: DataType.NodeId, value: NodeId.resolveNodeId(applicationId) },
      optionalGroup(this.directory, options.group),
      { dataType: DataType.NodeId, value: NodeId.nullNodeId },
      { dataType: DataType.String, value: options.subjectName },
      { dataType: DataType.String, arrayType: VariantArrayType.Array, value: options.domainNames ?? [] },
      { dataType: DataType.String, value: options.privateKeyFormat },
      { dataType: DataType.String, value: options.password ?? "" },
    ]);
    return (r.outputArguments![0].value as NodeId).toString();
  }

  async finishRequest(applicationId: string, requestId: string): Promise<FinishedCertificate> {
    const r = await this.callOk("FinishRequest", [
      { dataType: DataType.NodeId, value: NodeId.resolveNodeId(applicationId) },
      { dataType: DataType.NodeId, value: NodeId.resolveNodeId(requestId) },
    ]);
    const [certificate, privateKey, issuers] = r.outputArguments!;
    return { certificate: certificate.value as Buffer, privateKey: (privateKey.value as Buffer | null) ?? null, issuerCertificates: (issuers.value as Buffer[]) ?? [] };
  }

  async getCertificateGroups(applicationId: string): Promise<NodeId[]> {
    const r = await this.callOk("GetCertificateGroups", [{ dataType: DataType.NodeId, value: NodeId.resolveNodeId(applicationId) }]);
    return (r.outputArguments![0].value as NodeId[]) ?? [];
  }

  async getTrustList(applicationId: string, group?: number | null): Promise<NodeId> {
    const r = await this.callOk("GetTrustList", [{ dataType: DataType.NodeId, value: NodeId.resolveNodeId(applicationId) }, optionalGroup(this.directory, group)]);
    return r.outputArguments![0].value as NodeId;
  }

  async getCertificateStatus(applicationId: string, group?: number | null): Promise<boolean> {
    const r = await this.callOk("GetCertificateStatus", [
      { dataType: DataType.NodeId, value: NodeId.resolveNodeId(applicationId) },
      optionalGroup(this.directory, group),
      { dataType: DataType.NodeId, value: NodeId.nullNodeId },
    ]);
    return r.outputArguments![0].value as boolean;
  }

  async getCertificates(applicationId: string, group?: number | null): Promise<{ certificateTypeIds: NodeId[]; certificates: Buffer[] }> {
    const r = await this.callOk("GetCertificates", [{ dataType: DataType.NodeId, value: NodeId.resolveNodeId(applicationId) }, optionalGroup(this.directory, group)]);
    return { certificateTypeIds: (r.outputArguments![0].value as NodeId[]) ?? [], certificates: (r.outputArguments![1].value as Buffer[]) ?? [] };
  }

  async revokeCertificate(applicationId: string, certificate: Buffer): Promise<void> {
    await this.callOk("RevokeCertificate", [
      { dataType: DataType.NodeId, value: NodeId.resolveNodeId(applicationId) },
      { dataType: DataType.ByteString, value: certificate },
    ]);
  }

  async checkRevocationStatus(certificate: Buffer): Promise<{ status: StatusCode; validityTime: Date }> {
    const r = await this.callOk("CheckRevocationStatus", [{ dataType: DataType.ByteString, value: certificate }]);
    return { status: r.outputArguments![0].value as StatusCode, validityTime: r.outputArguments![1].value as Date };
  }
}

function toRecord(value: unknown): RemoteApplicationRecord {
  const r = value as {
    applicationId: NodeId;
    applicationUri: string;
    applicationType: number;
    applicationNames: Array<{ locale: string | null; text: string | null }>;
    productUri: string;
    discoveryUrls: string[] | null;
    serverCapabilities: string[] | null;
  };
  return {
    applicationId: r.applicationId.toString(),
    applicationUri: r.applicationUri,
    applicationType: r.applicationType,
    applicationNames: (r.applicationNames ?? []).map((n) => ({ locale: n.locale || null, text: n.text ?? "" })),
    productUri: r.productUri,
    discoveryUrls: r.discoveryUrls ?? [],
    serverCapabilities: r.serverCapabilities ?? [],
  };
}
