import fs from "node:fs/promises";
import path from "node:path";
import {
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  UserTokenType,
  type EndpointDescription,
  type StatusCode,
  type UserIdentityInfo,
} from "node-opcua";
import { PushFailure } from "../domain/push";
import { thumbprintOf } from "../domain/thumbprint";
import type { DeviceConnector, DeviceIdentity, DeviceSession, DeviceTarget } from "../services/push-ports";
import { connectFailure } from "./push-failures";
import { ServerConfigurationSession } from "./server-configuration-session";

/** The GDS's own application identity, which it presents to devices. */
export interface GdsClientIdentity {
  applicationUri: string;
  applicationName: string;
  /** PEM: the GDS's certificate followed by its issuer chain. */
  certificateFile: string;
  privateKeyFile: string;
  /** A PKI folder for the push client (node-opcua needs one); the GDS CA is put into it as trusted. */
  pkiFolder: string;
  /** DER of the CAs that issued the GDS's certificate and their CRLs (so node-opcua's check of its own certificate passes). */
  caCertificates: Buffer[];
  caCrls: Buffer[];
}

/** Security policies the push client uses, best first; all with SignAndEncrypt. */
const POLICIES = [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes256_Sha256_RsaPss, SecurityPolicy.Aes128_Sha256_RsaOaep];

type StatusCallback = (err: Error | null, status?: StatusCode) => void;

/**
 * node-opcua asks the client's certificate manager about a server's certificate only when it fetches
 * endpoints itself (the push client hands it the certificate it already decided on). Should it ask,
 * only the certificates decided on in this process pass: nothing reaches a device the GDS has not
 * accepted under the first-contact rule.
 */
class DecidedCertificates extends OPCUACertificateManager {
  readonly accepted = new Set<string>();

  override checkCertificate(chain: Buffer | Buffer[], callback?: StatusCallback): any {
    const leaf = splitDerChain(Array.isArray(chain) ? Buffer.concat(chain) : chain)[0];
    const status = leaf && this.accepted.has(thumbprintOf(leaf)) ? StatusCodes.Good : StatusCodes.BadCertificateUntrusted;
    if (!callback) return Promise.resolve(status);
    callback(null, status);
  }
}

/** Splits concatenated DER certificates (an endpoint may present its chain). */
export function splitDerChain(der: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  while (offset + 2 <= der.length && der[offset] === 0x30) {
    let length = der[offset + 1];
    let header = 2;
    if (length & 0x80) {
      const bytes = length & 0x7f;
      if (bytes < 1 || bytes > 4 || offset + 2 + bytes > der.length) break;
      length = 0;
      for (let i = 0; i < bytes; i++) length = length * 256 + der[offset + 2 + i];
      header += bytes;
    }
    const end = offset + header + length;
    if (end > der.length) break;
    out.push(der.subarray(offset, end));
    offset = end;
  }
  return out;
}

/** How a person names the identity the GDS used, for messages. */
export function describeIdentity(identity: DeviceIdentity): string {
  switch (identity.type) {
    case "userName":
      return `the user '${identity.userName}'`;
    case "certificate":
      return `the X509 user certificate ${thumbprintOf(identity.certificateDer)}`;
    case "anonymous":
      return "an anonymous user (no push credentials set)";
  }
}

function identityInfo(identity: DeviceIdentity): UserIdentityInfo {
  switch (identity.type) {
    case "userName":
      return { type: UserTokenType.UserName, userName: identity.userName, password: identity.password };
    case "certificate":
      return { type: UserTokenType.Certificate, certificateData: identity.certificateDer, privateKey: identity.privateKeyPem };
    case "anonymous":
      return { type: UserTokenType.Anonymous };
  }
}

/** DeviceConnector over node-opcua 2.182: GetEndpoints on a None channel, then SignAndEncrypt sessions. */
export class NodeOpcuaDeviceConnector implements DeviceConnector {
  private constructor(
    private readonly identity: GdsClientIdentity,
    private readonly manager: DecidedCertificates,
  ) {}

  /** Prepares the push client's PKI folder (once per process). */
  static async create(identity: GdsClientIdentity): Promise<NodeOpcuaDeviceConnector> {
    const manager = new DecidedCertificates({ rootFolder: identity.pkiFolder, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
    await manager.initialize();
    await Promise.all([
      ...identity.caCertificates.map((der) => fs.writeFile(path.join(identity.pkiFolder, "trusted", "certs", `gds-ca-${thumbprintOf(der).slice(0, 16)}.der`), der)),
      ...identity.caCrls.map((der, i) => fs.writeFile(path.join(identity.pkiFolder, "trusted", "crl", `gds-ca-${i}.crl`), der)),
    ]);
    await manager.reloadCertificates?.();
    return new NodeOpcuaDeviceConnector(identity, manager);
  }

  /** Releases the certificate manager. */
  async dispose(): Promise<void> {
    await this.manager.dispose();
  }

  private clientOptions(timeoutMs: number) {
    return {
      applicationName: this.identity.applicationName,
      applicationUri: this.identity.applicationUri,
      certificateFile: this.identity.certificateFile,
      privateKeyFile: this.identity.privateKeyFile,
      clientCertificateManager: this.manager,
      endpointMustExist: false,
      keepSessionAlive: false,
      // One try: the job's retries, with back-off, belong to the push service.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      transportTimeout: timeoutMs,
      defaultTransactionTimeout: timeoutMs,
      // Short: a session left behind by a crash holds the device's transaction only this long.
      requestedSessionTimeout: timeoutMs + 10_000,
    };
  }

  private async endpoints(endpointUrl: string, timeoutMs: number): Promise<EndpointDescription[]> {
    const client = OPCUAClient.create({ ...this.clientOptions(timeoutMs), securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None });
    try {
      await client.connect(endpointUrl);
      return await client.getEndpoints();
    } catch (e) {
      throw connectFailure(e, endpointUrl, "");
    } finally {
      await client.disconnect().catch(() => undefined);
    }
  }

  async presentedCertificate(endpointUrl: string, timeoutMs: number): Promise<Buffer> {
    const endpoints = await this.endpoints(endpointUrl, timeoutMs);
    const secure = endpoints.find((e) => e.securityMode === MessageSecurityMode.SignAndEncrypt && e.serverCertificate?.length) ?? endpoints.find((e) => e.serverCertificate?.length);
    const leaf = secure?.serverCertificate ? splitDerChain(secure.serverCertificate)[0] : undefined;
    if (!leaf) throw new PushFailure("unsupported", `${endpointUrl} presents no certificate: it offers no secure endpoint`);
    return Buffer.from(leaf);
  }

  async open(target: DeviceTarget, accept: (certificateDer: Buffer) => Promise<void>): Promise<DeviceSession> {
    const endpoints = await this.endpoints(target.endpointUrl, target.timeoutMs);
    const endpoint = POLICIES.map((p) => endpoints.find((e) => e.securityMode === MessageSecurityMode.SignAndEncrypt && e.securityPolicyUri === p && e.serverCertificate?.length)).find(Boolean);
    if (!endpoint) {
      throw new PushFailure("unsupported", `${target.endpointUrl} offers no SignAndEncrypt endpoint with Basic256Sha256, Aes256_Sha256_RsaPss or Aes128_Sha256_RsaOaep: the GDS changes trust only over an encrypted channel`);
    }
    const chain = Buffer.from(endpoint.serverCertificate);
    const leaf = splitDerChain(chain)[0] ?? chain;
    await accept(leaf);
    this.manager.accepted.add(thumbprintOf(leaf));

    const user = describeIdentity(target.identity);
    const client = OPCUAClient.create({
      ...this.clientOptions(target.timeoutMs),
      securityMode: MessageSecurityMode.SignAndEncrypt,
      securityPolicy: endpoint.securityPolicyUri as SecurityPolicy,
      serverCertificate: chain,
    });
    try {
      await client.connect(target.endpointUrl);
    } catch (e) {
      await client.disconnect().catch(() => undefined);
      throw connectFailure(e, target.endpointUrl, user);
    }
    try {
      const session = await client.createSession(identityInfo(target.identity));
      return await ServerConfigurationSession.open(client, session, leaf, user);
    } catch (e) {
      await client.disconnect().catch(() => undefined);
      throw connectFailure(e, target.endpointUrl, user);
    }
  }
}
