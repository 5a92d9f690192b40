import fs from "node:fs/promises";
import path from "node:path";
import {
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  type ClientSession,
  type UserIdentityInfo,
} from "node-opcua";
import { DirectoryClient } from "../../src/client/directory-client";
import { tempDir, type TestGds } from "./gds-fixture";

/** How a test client connects. */
export interface ClientOptions {
  mode?: MessageSecurityMode;
  policy?: SecurityPolicy;
  /** User name and password; anonymous when absent. */
  user?: { userName: string; password: string };
  /** X509 user token. */
  x509?: { certificate: Buffer; privateKeyPem: string };
  /** The client application's own certificate (e.g. one the GDS issued) instead of a self-signed one. */
  application?: { applicationUri: string; certificateFile: string; privateKeyFile: string };
  /** Keeps an idle session alive (the server closes one silent for its timeout, 60 s). */
  keepSessionAlive?: boolean;
}

const managers = new Map<string, OPCUACertificateManager>();

/**
 * A client PKI store that trusts the GDS's CA (certificate and CRL), so that the server's
 * certificate is verified for real. One store per GDS data folder, reused across connections.
 */
async function clientCertificateManager(gds: TestGds): Promise<OPCUACertificateManager> {
  const existing = managers.get(gds.dataDir);
  if (existing) return existing;
  const root = await tempDir("client-pki");
  const manager = new OPCUACertificateManager({ rootFolder: root, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
  await manager.initialize();
  await fs.copyFile(gds.caCertificateFile, path.join(root, "trusted", "certs", "gds-ca.pem"));
  await fs.copyFile(gds.caCrlFile, path.join(root, "trusted", "crl", "gds-ca.crl.pem"));
  await manager.reloadCertificates?.();
  managers.set(gds.dataDir, manager);
  return manager;
}

/** A session with a test GDS that stays open until `close` (which ends session and connection). */
export interface GdsSession {
  session: ClientSession;
  directory: DirectoryClient;
  close(): Promise<void>;
}

/** Opens a session with `gds`; a failure to connect or to create the session disconnects and throws. */
export async function openGdsSession(gds: TestGds, options: ClientOptions): Promise<GdsSession> {
  const client = OPCUAClient.create({
    applicationName: "opcua-gds-test-client",
    securityMode: options.mode ?? MessageSecurityMode.SignAndEncrypt,
    securityPolicy: options.policy ?? SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    // Bursts of hundreds of calls on a loaded 2-core machine: a slow answer is not a lost one.
    defaultTransactionTimeout: 60_000,
    clientCertificateManager: await clientCertificateManager(gds),
    keepSessionAlive: options.keepSessionAlive ?? false,
    ...(options.application ?? {}),
  });
  try {
    await client.connect(gds.endpointUrl);
    let identity: UserIdentityInfo = { type: UserTokenType.Anonymous };
    if (options.user) identity = { type: UserTokenType.UserName, ...options.user };
    if (options.x509) identity = { type: UserTokenType.Certificate, certificateData: options.x509.certificate, privateKey: options.x509.privateKeyPem };
    const session = await client.createSession(identity);
    try {
      const directory = await DirectoryClient.create(session);
      return {
        session,
        directory,
        close: async () => {
          try {
            await session.close();
          } finally {
            await client.disconnect();
          }
        },
      };
    } catch (e) {
      await session.close().catch(() => undefined);
      throw e;
    }
  } catch (e) {
    await client.disconnect().catch(() => undefined);
    throw e;
  }
}

/** Opens a session, runs `work` with a DirectoryClient, and always closes session and connection. */
export async function withDirectory<T>(gds: TestGds, options: ClientOptions, work: (directory: DirectoryClient, session: ClientSession) => Promise<T>): Promise<T> {
  const open = await openGdsSession(gds, options);
  try {
    return await work(open.directory, open.session);
  } finally {
    await open.close();
  }
}

/** Disposes the client PKI stores made by this process. */
export async function disposeClientStores(): Promise<void> {
  for (const m of managers.values()) {
    await m.dispose();
    await fs.rm(m.rootDir, { recursive: true, force: true });
  }
  managers.clear();
}
