import { timingSafeEqual, createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { MessageSecurityMode, NodeId, OPCUACertificateManager, OPCUAServer, StatusCodes, WellKnownRoles, nodesets } from "node-opcua";
import { ChannelCertificateManager } from "../opcua/certificate-managers";
import { SECURITY_POLICIES } from "../opcua/security-policies";
import { dropAllChannels, installServerConfiguration } from "../opcua/server-configuration";
import { StatusFault } from "../opcua/status-fault";

/** How a simulated device behaves towards push management. */
export type DeviceBehaviour = "normal" | "refuse-certificate" | "no-key-generation";

/** One simulated device. */
export interface SimulatedDeviceOptions {
  index: number;
  port: number;
  applicationUri: string;
  behaviour?: DeviceBehaviour;
}

/** What a device needs besides its own options. */
export interface DeviceEnvironment {
  host: string;
  /** The device's own folder (PKI store, commissioning marker). */
  folder: string;
  user: string;
  password: string;
  maxTrustListSize?: number;
  /** One user-token store for all devices: the X509 user certificates they accept. */
  userCertificateManager: OPCUACertificateManager;
  /** Names (common names) of the X509 users in that store: each has the SecurityAdmin role. */
  x509Users?: ReadonlySet<string>;
  /** Loads the standard NodeSet once for every device started after the first. */
  nodesetLoaderOptions?: Record<string, unknown>;
}

/** A started device and how to stop it. */
export interface RunningDevice {
  endpointUrl: string;
  /** Stops listening, drops every channel and waits for changes being written: quick, the device is gone from the network. */
  close(): Promise<void>;
  /** close(), then frees the server (its address space): the expensive part. */
  stop(): Promise<void>;
}

/** What a device in commissioning overlooks: it knows no CA and no CRL yet. */
const COMMISSIONING_VERDICTS = ["BadCertificateUntrusted", "BadCertificateRevocationUnknown", "BadCertificateIssuerRevocationUnknown", "BadCertificateChainIncomplete"];

/** Marker file: present once a client changed the trust list, after which the device leaves commissioning. */
const COMMISSIONED_MARKER = "trust-list-written";

function sameSecret(a: string, b: string): boolean {
  // Compared as digests so that the comparison takes the same time whatever the lengths.
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/**
 * Starts one push-capable device: a node-opcua server on `host:port` with SignAndEncrypt endpoints,
 * a self-signed certificate of its ApplicationUri made on first start in its folder, one user with
 * the SecurityAdmin role (and any X509 users of the environment), and the ServerConfiguration module. Like many real devices it accepts an
 * unknown client certificate only while its trust list has never been written (commissioning);
 * afterwards it accepts what the trust list allows and records the others as rejected.
 */
export async function startSimulatedDevice(device: SimulatedDeviceOptions, env: DeviceEnvironment): Promise<RunningDevice> {
  const behaviour = device.behaviour ?? "normal";
  const pki = path.join(env.folder, "pki");
  const marker = path.join(env.folder, COMMISSIONED_MARKER);
  await fs.mkdir(env.folder, { recursive: true, mode: 0o700 });
  let commissioned = await exists(marker);
  // In commissioning any well-formed client certificate is taken, also one issued by a CA the device does not know yet.
  const channelTrust = new ChannelCertificateManager(pki, () => !commissioned, { unknownVerdicts: COMMISSIONING_VERDICTS });
  const securityAdmin = [new NodeId(NodeId.NodeIdType.NUMERIC, WellKnownRoles.SecurityAdmin, 0)];
  const server = new OPCUAServer({
    port: device.port,
    host: env.host,
    hostname: env.host,
    nodeset_filename: [nodesets.standard],
    nodesetLoaderOptions: env.nodesetLoaderOptions,
    serverInfo: { applicationUri: device.applicationUri, productUri: "urn:opcua-gds:simulator", applicationName: { text: `Simulated device ${device.index}` } },
    buildInfo: { productName: "opcua-gds simulated device", productUri: "urn:opcua-gds:simulator", manufacturerName: "opcua-gds" },
    serverCertificateManager: channelTrust,
    userCertificateManager: env.userCertificateManager,
    securityModes: [MessageSecurityMode.SignAndEncrypt],
    securityPolicies: SECURITY_POLICIES,
    allowAnonymous: false,
    isAuditing: true,
    userManager: {
      isValidUser: (userName: string, password: string) => userName === env.user && sameSecret(password, env.password),
      getUserRoles: (userName: string) => (userName === env.user || env.x509Users?.has(userName) ? securityAdmin : []),
    },
  } as ConstructorParameters<typeof OPCUAServer>[0]);
  await server.initialize();
  const configuration = installServerConfiguration(server, {
    canRegeneratePrivateKey: behaviour !== "no-key-generation",
    supportedPrivateKeyFormats: ["PFX", "PEM"],
    maxTrustListSize: env.maxTrustListSize,
    // Reachable at its endpoint's host only: a CA that checks requests against the DiscoveryUrls signs it.
    hostNames: [env.host],
    acceptCertificate: () => {
      if (behaviour === "refuse-certificate") throw new StatusFault(StatusCodes.BadCertificateInvalid, "this device refuses certificates (simulated policy)");
    },
    onApplied: async (change) => {
      if (change.kind !== "trustList" || commissioned) return;
      commissioned = true;
      await fs.writeFile(marker, `${new Date().toISOString()}\n`);
    },
  });
  await server.start();
  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      const suspended = server.suspendEndPoints();
      dropAllChannels(server);
      await suspended;
      await configuration.idle();
    })());
  return {
    endpointUrl: server.getEndpointUrl(),
    close,
    stop: async () => {
      await close();
      // Endpoints already closed are skipped by node-opcua's shutdown; what is left is freeing the engine.
      await server.shutdown(0);
    },
  };
}
