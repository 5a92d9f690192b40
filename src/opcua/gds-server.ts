import {
  ApplicationType,
  BrowseDirection,
  MessageSecurityMode,
  NodeClass,
  OPCUAServer,
  nodesets,
  type BaseNode,
  type UAMethod,
  type UAObject,
} from "node-opcua";
import type { CertificateService } from "../services/certificate-service";
import type { DirectoryService } from "../services/directory-service";
import type { LoginGuard } from "../services/login-guard";
import type { OnboardingService } from "../services/onboarding-service";
import type { UserService } from "../services/user-service";
import type { AuditLog } from "../services/ports";
import { checkRevocationStatus } from "./bindings/check-revocation-status";
import { findApplications } from "./bindings/find-applications";
import { finishRequest } from "./bindings/finish-request";
import { getCertificateGroups } from "./bindings/get-certificate-groups";
import { getCertificateStatus } from "./bindings/get-certificate-status";
import { getCertificates } from "./bindings/get-certificates";
import { getTrustList } from "./bindings/get-trust-list";
import { revokeCertificate } from "./bindings/revoke-certificate";
import { startNewKeyPairRequest } from "./bindings/start-new-key-pair-request";
import { startSigningRequest } from "./bindings/start-signing-request";
import { getApplication } from "./bindings/get-application";
import { queryApplications } from "./bindings/query-applications";
import { queryServers } from "./bindings/query-servers";
import { registerApplication } from "./bindings/register-application";
import { unregisterApplication } from "./bindings/unregister-application";
import { updateApplication } from "./bindings/update-application";
import { ChannelCertificateManager, UserCertificateManager } from "./certificate-managers";
import { GDS_IDS, gdsNodeId } from "./gds-namespace";
import { AuditEvents } from "./audit-events";
import { bindMethod, bindNotImplemented, type CallObserver, type ErrorLog, type MethodBinding } from "./method-binding";
import { leaveAuthorizationToBinding } from "./method-permissions";
import { OPCUA_GDS_NODESET, certificateRequestsObject, requestAdministrationBindings, restoreMethodDescriptions } from "./request-administration";
import { bindReadOnlyTrustList } from "./trust-list-file";
import { SECURITY_POLICIES } from "./security-policies";
import { resolveCaller } from "./caller-resolver";
import { authorize, checkChannel, GROUP_TRUST_LIST_READER, SECURITY_ADMIN } from "../domain/authorization";
import { CERTIFICATE_GROUPS, DEFAULT_APPLICATION_GROUP } from "../domain/certificate-groups";
import { installServerConfiguration, sessionUserName } from "./server-configuration";
import { thumbprintOf } from "../domain/thumbprint";
import { grantTransportLimits } from "./transport-limits";
import { presentCertificateFiles } from "./server-configuration/endpoint-certificate";

/** Everything the OPC UA server needs; built by the composition root. */
export interface GdsServerOptions {
  port: number;
  /** Address to listen on; all interfaces when absent. */
  host?: string;
  /** Host name put in endpoint URLs. */
  hostname: string;
  applicationUri: string;
  productUri: string;
  applicationName: string;
  certificateFile: string;
  privateKeyFile: string;
  serverPkiFolder: string;
  userPkiFolder: string;
  strictTrust: boolean;
  maxSessions: number;
  /** Largest message (request or response) and most chunks granted to any client. */
  maxMessageSize: number;
  maxChunkCount: number;
  /** Most certificates kept in the server's rejected/ folder. */
  maxRejectedCertificates: number;
  /** Slows down password guessing per user name and per client certificate. */
  loginGuard: LoginGuard;
  directory: DirectoryService;
  certificates: CertificateService;
  onboarding: OnboardingService;
  users: UserService;
  /** Where changes pushed to the GDS itself (its certificate, its trust list) are recorded. */
  audit: AuditLog;
  logError: ErrorLog;
  /** Told of every answered Directory and administration call (request counters). */
  observeCall?: CallObserver;
}

/** A running GDS endpoint. */
export interface GdsServer {
  endpointUrl: string;
  /** Re-reads the server's trust store (after a CRL or CA change). */
  reloadTrust(): Promise<void>;
  /** Presents the certificate and key files again (the GDS's own certificate was renewed); new channels get them. */
  presentOwnCertificate(): void;
  stop(): Promise<void>;
}

export { SECURITY_POLICIES };

function methodsBelow(root: BaseNode): UAMethod[] {
  const found: UAMethod[] = [];
  const seen = new Set<string>();
  const visit = (node: BaseNode) => {
    const key = node.nodeId.toString();
    if (seen.has(key)) return;
    seen.add(key);
    if (node.nodeClass === NodeClass.Method) found.push(node as UAMethod);
    for (const ref of node.findReferencesExAsObject("HierarchicalReferences", BrowseDirection.Forward)) visit(ref);
  };
  visit(root);
  return found;
}

/**
 * Starts the OPC UA server of the GDS: the standard and GDS NodeSets (the GDS NodeSet 1.05.07 that
 * node-opcua-nodesets ships, pinned with node-opcua), SignAndEncrypt and Sign endpoints, and the
 * Directory methods bound to the services. Every other method of the Directory answers
 * BadNotImplemented until it is implemented.
 */
export async function startGdsServer(o: GdsServerOptions): Promise<GdsServer> {
  const users = o.users;
  const sources = { users, certificates: o.certificates, onboarding: o.onboarding, directory: o.directory };
  // Unknown clients may open a channel unless strict trust is on; during onboarding they always may.
  const channelTrust = new ChannelCertificateManager(o.serverPkiFolder, () => !o.strictTrust || o.onboarding.isOpenCached(), { maxRejected: o.maxRejectedCertificates, logError: o.logError });
  const server = new OPCUAServer({
    port: o.port,
    host: o.host,
    hostname: o.hostname,
    nodeset_filename: [nodesets.standard, nodesets.gds, OPCUA_GDS_NODESET],
    serverInfo: {
      applicationUri: o.applicationUri,
      productUri: o.productUri,
      applicationName: { text: o.applicationName },
      applicationType: ApplicationType.DiscoveryServer,
    },
    buildInfo: { productName: "opcua-gds", productUri: o.productUri, manufacturerName: "opcua-gds" },
    certificateFile: o.certificateFile,
    privateKeyFile: o.privateKeyFile,
    serverCertificateManager: channelTrust,
    userCertificateManager: new UserCertificateManager(o.userPkiFolder, users),
    securityModes: [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    securityPolicies: SECURITY_POLICIES,
    allowAnonymous: true,
    isAuditing: true,
    maxConnectionsPerEndpoint: o.maxSessions,
    serverCapabilities: { maxSessions: o.maxSessions },
    transportSettings: { adjustTransportLimits: grantTransportLimits(o.maxMessageSize, o.maxChunkCount) },
    userManager: {
      // node-opcua calls this with the session as `this`: its channel names the client certificate.
      isValidUserAsync(this: { channel?: { clientCertificate?: Buffer | null } } | undefined, userName: string, password: string, callback: (err: Error | null, ok?: boolean) => void) {
        const certificate = this?.channel?.clientCertificate;
        o.loginGuard.attempt(String(userName), certificate?.length ? thumbprintOf(certificate) : null, () => users.checkPassword(userName, password)).then(
          (ok) => callback(null, ok),
          (err: Error) => callback(err),
        );
      },
    },
  });
  await server.initialize();
  // A folder filled while the limit was higher (or before there was one) is cut down at start.
  await channelTrust.pruneRejected();

  const addressSpace = server.engine.addressSpace!;
  const directoryNode = addressSpace.findNode(gdsNodeId(addressSpace, GDS_IDS.Directory));
  if (!directoryNode) throw new Error("the Directory object is missing from the GDS NodeSet");

  const bindings: MethodBinding[] = [
    findApplications(o.directory),
    registerApplication(o.directory),
    updateApplication(o.directory),
    unregisterApplication(o.directory),
    getApplication(o.directory),
    queryApplications(o.directory),
    queryServers(o.directory),
    startSigningRequest(o.certificates),
    startNewKeyPairRequest(o.certificates),
    finishRequest(o.certificates),
    getCertificateGroups(o.certificates),
    getTrustList(o.certificates),
    getCertificateStatus(o.certificates),
    getCertificates(o.certificates),
    revokeCertificate(o.certificates),
    checkRevocationStatus(o.certificates),
  ];
  // The groups' trust lists: read by CertificateAuthorityAdmin or SecurityAdmin, or by an
  // application holding a GDS-issued certificate, for the groups of that application only.
  for (const group of CERTIFICATE_GROUPS) {
    const trustList = addressSpace.findNode(gdsNodeId(addressSpace, group.trustListNumericId));
    if (!trustList) throw new Error(`the TrustList of ${group.name} is missing from the GDS NodeSet`);
    bindReadOnlyTrustList(trustList as UAObject, {
      content: () => o.certificates.trustListContent(group),
      authorize: async (context) => {
        const caller = await resolveCaller(context, sources);
        checkChannel(caller, GROUP_TRUST_LIST_READER);
        const self = caller.selfApplicationId;
        const ownGroup = self !== null && (await o.certificates.getCertificateGroups(self)).some((g) => g.name === group.name);
        authorize(caller, GROUP_TRUST_LIST_READER, ownGroup ? self : null);
      },
      logError: o.logError,
    });
  }

  const auditEvents = new AuditEvents(addressSpace, o.applicationUri);
  const byName = new Map(bindings.map((b) => [b.name, b]));
  const directoryMethods = new Set(directoryNode.findReferencesExAsObject("HasComponent", BrowseDirection.Forward).map((n) => n.nodeId.toString()));
  for (const method of methodsBelow(directoryNode)) {
    const binding = directoryMethods.has(method.nodeId.toString()) ? byName.get(method.browseName.name ?? "") : undefined;
    if (binding) bindMethod(method, binding, sources, o.logError, auditEvents, o.observeCall);
    else if (!method.isBound()) bindNotImplemented(method);
    leaveAuthorizationToBinding(method);
  }

  // opcua-gds's own namespace: the approval desk (CertificateRequests) of the RegistrationAuthorityAdmin.
  restoreMethodDescriptions(addressSpace);
  const administration = new Map(requestAdministrationBindings(o.certificates).map((b) => [b.methodBrowseName, b.binding]));
  for (const method of certificateRequestsObject(addressSpace).getMethods()) {
    const binding = administration.get(method.browseName.name ?? "");
    if (binding) bindMethod(method, binding, sources, o.logError, undefined, o.observeCall);
    else bindNotImplemented(method);
    leaveAuthorizationToBinding(method);
  }

  // The GDS as a push target (OPC 10000-12 §7.10): UaExpert or another GDS manages its certificate
  // and channel trust list. The GDS's own CA and current CRL stay trusted whatever is pushed, so that
  // a pushed trust list can never lock out the applications the GDS issued certificates to.
  const configuration = installServerConfiguration(server, {
    authorize: async (context) => authorize(await resolveCaller(context, sources), SECURITY_ADMIN),
    actorOf: sessionUserName,
    retainedTrust: () => o.certificates.trustListContent(DEFAULT_APPLICATION_GROUP),
    serverCapabilities: ["GDS"],
    onApplied: (change) =>
      o.audit.append({
        actor: change.actor,
        action: change.kind === "certificate" ? "ServerCertificateUpdated" : "ServerTrustListUpdated",
        subject: change.kind === "certificate" ? `GDS certificate ${change.detail}` : "GDS channel trust list",
        outcome: "Good",
        details: change.kind === "trustList" ? `by ${change.detail}` : undefined,
      }),
    logError: o.logError,
  });

  await server.start();
  return {
    endpointUrl: server.getEndpointUrl(),
    reloadTrust: () => channelTrust.reloadCertificates(),
    presentOwnCertificate: () => presentCertificateFiles(server, o.certificateFile, o.privateKeyFile),
    stop: async () => {
      // A certificate or trust list being installed is finished first: never a key without its certificate.
      await configuration.idle();
      await server.shutdown(0);
    },
  };
}
