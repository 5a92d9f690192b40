import {
  DataType,
  MessageSecurityMode,
  NodeClass,
  NodeId,
  PermissionType,
  UserNameIdentityToken,
  Variant,
  VariantArrayType,
  WellKnownRoles,
  sameNodeId,
  type BaseNode,
  type ISessionContext,
  type OPCUACertificateManager,
  type OPCUAServer,
  type UAMethod,
  type UAObject,
  type UAVariable,
} from "node-opcua";
import { GdsError } from "../../domain/errors";
import { AuditEvents } from "../audit-events";
import { bindWritableTrustList, type TrustListContent } from "../trust-list-file";
import { applyChanges, cancelChanges } from "./apply-changes";
import { RSA_SHA256_APPLICATION_CERTIFICATE_TYPE } from "./certificate-target";
import { ConfigurationState } from "./configuration-state";
import { createSigningRequest } from "./create-signing-request";
import { getCertificates } from "./get-certificates";
import { getRejectedList } from "./get-rejected-list";
import { resetToServerDefaults } from "./reset-to-server-defaults";
import { DEFAULT_MAX_REJECTED_CERTIFICATES, DEFAULT_MAX_TRUST_LIST_SIZE, type ResolvedOptions, type ServerConfigurationOptions } from "./options";
import { bindPushMethod, type PushMethodBody, type PushMethodAudit } from "./push-method";
import { trustListWriter } from "./trust-list-writer";
import { certificateUpdatedFields, updateCertificate } from "./update-certificate";

export type { AppliedChange, PrivateKeyFormat, ServerConfigurationOptions } from "./options";
export { dropAllChannels } from "./endpoint-certificate";

/** Standard NodeIds (ns0) of the ServerConfiguration object (OPC 10000-12 §7.10) in node-opcua's standard NodeSet. */
const IDS = {
  ServerConfiguration: 12637,
  SupportedPrivateKeyFormats: 12639,
  MaxTrustListSize: 12640,
  ServerCapabilities: 12710,
  CertificateGroups: 14053,
  DefaultApplicationGroup: 14156,
  DefaultApplicationGroupTrustList: 12642,
  DefaultApplicationGroupCertificateTypes: 14161,
} as const;

/** CertificateUpdatedAuditEventType (ns0). */
const CERTIFICATE_UPDATED_AUDIT_EVENT = 12620;
const ANONYMOUS_ROLE = NodeId.resolveNodeId("i=15644");

/** A ServerConfiguration bound by installServerConfiguration. */
export interface ServerConfiguration {
  /** The trust list the server uses now. */
  readTrustList(): Promise<TrustListContent>;
  /** When the trust list in use last changed (by a client or at start). */
  lastTrustListUpdate(): Date;
  /** Resolves once no certificate, key or trust list is being written (before a shutdown). */
  idle(): Promise<void>;
}

const ns0 = (id: number) => new NodeId(NodeId.NodeIdType.NUMERIC, id, 0);

/** The default authorization: SignAndEncrypt and the SecurityAdmin role in node-opcua's user manager. */
export async function requireSecurityAdminSession(context: ISessionContext): Promise<void> {
  const mode = (context.session as unknown as { channel?: { securityMode?: MessageSecurityMode } } | undefined)?.channel?.securityMode;
  if (mode !== MessageSecurityMode.SignAndEncrypt) throw new GdsError("SecurityModeInsufficient", "push management needs a SignAndEncrypt channel");
  if (!context.currentUserHasRole(ns0(WellKnownRoles.SecurityAdmin))) throw new GdsError("UserAccessDenied", "push management needs the SecurityAdmin role");
}

/** The user name of the session, or "anonymous". */
export function sessionUserName(context: ISessionContext): string {
  const token = (context.session as unknown as { userIdentityToken?: unknown } | undefined)?.userIdentityToken;
  return token instanceof UserNameIdentityToken && token.userName ? token.userName : "anonymous";
}

function resolve(options: ServerConfigurationOptions): ResolvedOptions {
  const maxTrustListSize = options.maxTrustListSize ?? DEFAULT_MAX_TRUST_LIST_SIZE;
  if (!Number.isInteger(maxTrustListSize) || maxTrustListSize < 1) throw new RangeError("maxTrustListSize must be a positive integer");
  const supportedPrivateKeyFormats = options.supportedPrivateKeyFormats ?? ["PFX", "PEM"];
  if (supportedPrivateKeyFormats.some((f) => f !== "PFX" && f !== "PEM")) throw new RangeError("supportedPrivateKeyFormats may hold PFX and PEM only");
  return {
    authorize: options.authorize ?? requireSecurityAdminSession,
    actorOf: options.actorOf ?? sessionUserName,
    supportedPrivateKeyFormats,
    canRegeneratePrivateKey: options.canRegeneratePrivateKey ?? true,
    acceptCertificate: options.acceptCertificate ?? (() => undefined),
    maxTrustListSize,
    maxRejectedCertificates: options.maxRejectedCertificates ?? DEFAULT_MAX_REJECTED_CERTIFICATES,
    retainedTrust: options.retainedTrust,
    onApplied: options.onApplied,
    serverCapabilities: options.serverCapabilities,
    hostNames: options.hostNames,
    logError: options.logError ?? ((m: string) => console.error(m)),
  };
}

/**
 * Every session may browse the ServerConfiguration object and read its properties (the NodeSet
 * grants them to SecurityAdmin only, a role GDS users get from the database, not from node-opcua);
 * who may call is decided in each method, as for the Directory.
 */
function openForBrowsing(node: BaseNode): void {
  const permissions = node.nodeClass === NodeClass.Variable ? PermissionType.Browse | PermissionType.Read : PermissionType.Browse;
  const others = (node.rolePermissions ?? []).filter((r) => !sameNodeId(r.roleId as NodeId, ANONYMOUS_ROLE));
  node.setRolePermissions([...others, { roleId: ANONYMOUS_ROLE, permissions }]);
}

/**
 * Binds push certificate management (OPC 10000-12 §7.10) on an initialized or started node-opcua
 * server: UpdateCertificate, CreateSigningRequest, ApplyChanges, CancelChanges, GetRejectedList,
 * ResetToServerDefaults (Bad_NotSupported) and the writable DefaultApplicationGroup TrustList of
 * Server.ServerConfiguration, over the server's
 * own certificate and key files and its certificate manager's PKI folder. Properties
 * SupportedPrivateKeyFormats, MaxTrustListSize, ServerCapabilities and the group's CertificateTypes
 * are set. GetCertificates (1.05) is bound when the NodeSet has it (node-opcua 2.182's has not).
 */
export function installServerConfiguration(server: OPCUAServer, options: ServerConfigurationOptions = {}): ServerConfiguration {
  const addressSpace = server.engine?.addressSpace;
  if (!addressSpace) throw new Error("installServerConfiguration needs an initialized server (await server.initialize() first)");
  const find = <T extends BaseNode>(id: number, what: string): T => {
    const node = addressSpace.findNode(ns0(id));
    if (!node) throw new Error(`the standard NodeSet has no ${what} (ns=0;i=${id})`);
    return node as T;
  };
  const resolved = resolve(options);
  const applicationUri = server.serverInfo.applicationUri;
  if (!applicationUri) throw new Error("the server has no ApplicationUri");
  const state = new ConfigurationState(server, server.serverCertificateManager as OPCUACertificateManager, resolved, applicationUri, server.certificateFile, server.privateKeyFile);
  const events = new AuditEvents(addressSpace, applicationUri);

  const configuration = find<UAObject>(IDS.ServerConfiguration, "ServerConfiguration");
  const group = find<UAObject>(IDS.DefaultApplicationGroup, "DefaultApplicationGroup");
  const trustList = find<UAObject>(IDS.DefaultApplicationGroupTrustList, "DefaultApplicationGroup TrustList");
  for (const node of [configuration, find<UAObject>(IDS.CertificateGroups, "CertificateGroups"), group, trustList]) {
    openForBrowsing(node);
    for (const property of node.findReferencesExAsObject("HasProperty")) openForBrowsing(property);
  }

  // node-opcua binds some of these to its engine's own settings: bind them anew, overwriting.
  const set = (id: number, what: string, value: { dataType: DataType; arrayType?: VariantArrayType; value: unknown }) => {
    const variable = find<UAVariable>(id, what);
    variable.bindVariable({ get: () => new Variant(value) }, true);
    openForBrowsing(variable);
  };
  set(IDS.SupportedPrivateKeyFormats, "SupportedPrivateKeyFormats", { dataType: DataType.String, arrayType: VariantArrayType.Array, value: resolved.supportedPrivateKeyFormats });
  set(IDS.MaxTrustListSize, "MaxTrustListSize", { dataType: DataType.UInt32, value: resolved.maxTrustListSize });
  if (resolved.serverCapabilities) set(IDS.ServerCapabilities, "ServerCapabilities", { dataType: DataType.String, arrayType: VariantArrayType.Array, value: resolved.serverCapabilities });
  set(IDS.DefaultApplicationGroupCertificateTypes, "CertificateTypes", { dataType: DataType.NodeId, arrayType: VariantArrayType.Array, value: [ns0(RSA_SHA256_APPLICATION_CERTIFICATE_TYPE)] });

  const methods: Array<[string, PushMethodBody, PushMethodAudit?]> = [
    ["UpdateCertificate", updateCertificate, { eventTypeId: CERTIFICATE_UPDATED_AUDIT_EVENT, fields: certificateUpdatedFields }],
    ["CreateSigningRequest", createSigningRequest],
    ["ApplyChanges", applyChanges],
    ["CancelChanges", cancelChanges],
    ["GetRejectedList", getRejectedList],
    ["GetCertificates", getCertificates],
    ["ResetToServerDefaults", resetToServerDefaults],
  ];
  const optional = new Set(["CancelChanges", "GetCertificates", "ResetToServerDefaults"]); // 1.05; absent from older NodeSets (GetCertificates from node-opcua 2.182's)
  for (const [name, body, audit] of methods) {
    const method = configuration.getMethodByName(name) as UAMethod | null;
    if (!method) {
      if (optional.has(name)) continue;
      throw new Error(`the standard NodeSet has no ServerConfiguration.${name}`);
    }
    bindPushMethod(method, state, body, events, audit);
  }

  bindWritableTrustList(trustList, {
    content: () => state.store.read(),
    authorize: resolved.authorize,
    writer: trustListWriter(state, trustList, events),
    logError: resolved.logError,
  });

  return { readTrustList: () => state.store.read(), lastTrustListUpdate: () => state.lastTrustListUpdate(), idle: () => state.idle() };
}
