import "reflect-metadata";
import { X509Certificate, webcrypto } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import {
  BrowseDirection,
  DataType,
  MessageSecurityMode,
  NodeClass,
  NodeId,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  UserTokenType,
  VariantArrayType,
  type ClientSession,
  type StatusCode,
  type Variant,
  type VariantLike,
} from "node-opcua";
import { CertificateAuthority, generateRsaKeyPair, privateKeyToPem } from "../../src/ca/certificate-authority";
import { parseCertificateRequest } from "../../src/ca/csr";
import { systemClock } from "../../src/domain/clock";
import { encodeTrustList, type TrustListContent } from "../../src/opcua/trust-list-file";
import { tempDir } from "./gds-fixture";

/** ServerConfiguration and its members (ns0), as OPC 10000-12 §7.10 and GDS-REFERENCE.md name them. */
export const SC = {
  object: "ns=0;i=12637",
  UpdateCertificate: "ns=0;i=13737",
  CreateSigningRequest: "ns=0;i=12737",
  ApplyChanges: "ns=0;i=12740",
  CancelChanges: "ns=0;i=25708",
  GetRejectedList: "ns=0;i=12777",
  trustList: "ns=0;i=12642",
  SupportedPrivateKeyFormats: "ns=0;i=12639",
  MaxTrustListSize: "ns=0;i=12640",
  CertificateTypes: "ns=0;i=14161",
  DefaultApplicationGroup: "ns=0;i=14156",
  RsaSha256ApplicationCertificateType: "ns=0;i=12560",
} as const;

/** A failed method call with its status. */
export class CallFailed extends Error {
  constructor(
    readonly statusCode: StatusCode,
    method: string,
  ) {
    super(`${method} failed: ${statusCode.toString()}`);
  }
}

/** For assert.rejects: the call failed with exactly `expected`. */
export function failsWith(expected: StatusCode): (e: unknown) => boolean {
  return (e: unknown) => {
    if (!(e instanceof CallFailed)) throw e;
    if (e.statusCode.value !== expected.value) throw new Error(`expected ${expected.toString()}, got ${e.statusCode.toString()}`);
    return true;
  };
}

/** Calls a method; a Bad status throws CallFailed. */
export async function call(session: ClientSession, objectId: string | NodeId, methodId: string | NodeId, inputArguments: VariantLike[] = []): Promise<Variant[]> {
  const r = await session.call({ objectId, methodId, inputArguments });
  if (r.statusCode.value !== StatusCodes.Good.value) throw new CallFailed(r.statusCode, String(methodId));
  return r.outputArguments ?? [];
}

/** The methods of the TrustList by BrowseName, as a push client finds them. */
export async function trustListMethods(session: ClientSession): Promise<Map<string, NodeId>> {
  const result = await session.browse({ nodeId: SC.trustList, browseDirection: BrowseDirection.Forward, referenceTypeId: "HasComponent", includeSubtypes: true, nodeClassMask: NodeClass.Method, resultMask: 63 });
  return new Map((result.references ?? []).map((r) => [r.browseName.name ?? "", r.nodeId]));
}

/** Open(Write|EraseExisting), Write in `chunk`-byte blocks, CloseAndUpdate: ApplyChangesRequired. */
export async function writeTrustList(session: ClientSession, content: TrustListContent, masks = 15, chunk = 4096): Promise<boolean> {
  return writeTrustListBytes(session, encodeTrustList(content, masks), chunk);
}

/** Writes raw bytes as the TrustList file and calls CloseAndUpdate. */
export async function writeTrustListBytes(session: ClientSession, data: Buffer, chunk = 4096): Promise<boolean> {
  const m = await trustListMethods(session);
  const [handle] = await call(session, SC.trustList, m.get("Open")!, [{ dataType: DataType.Byte, value: 0x06 }]);
  for (let i = 0; i < data.length; i += chunk) {
    await call(session, SC.trustList, m.get("Write")!, [
      { dataType: DataType.UInt32, value: handle.value },
      { dataType: DataType.ByteString, value: data.subarray(i, i + chunk) },
    ]);
  }
  const [required] = await call(session, SC.trustList, m.get("CloseAndUpdate")!, [{ dataType: DataType.UInt32, value: handle.value }]);
  return required.value as boolean;
}

/** CreateSigningRequest on the default group and type. */
export async function createSigningRequest(session: ClientSession, regenerate: boolean, nonce: Buffer = webcrypto.getRandomValues(Buffer.alloc(32)), subjectName = ""): Promise<Buffer> {
  const [csr] = await call(session, SC.object, SC.CreateSigningRequest, [
    { dataType: DataType.NodeId, value: NodeId.resolveNodeId(SC.DefaultApplicationGroup) },
    { dataType: DataType.NodeId, value: NodeId.resolveNodeId(SC.RsaSha256ApplicationCertificateType) },
    { dataType: DataType.String, value: subjectName },
    { dataType: DataType.Boolean, value: regenerate },
    { dataType: DataType.ByteString, value: nonce },
  ]);
  return csr.value as Buffer;
}

/** UpdateCertificate on the default group and type: ApplyChangesRequired. */
export async function updateCertificate(session: ClientSession, certificate: Buffer, issuers: Buffer[], privateKey?: { format: string; key: Buffer }): Promise<boolean> {
  const [required] = await call(session, SC.object, SC.UpdateCertificate, [
    { dataType: DataType.NodeId, value: NodeId.resolveNodeId(SC.DefaultApplicationGroup) },
    { dataType: DataType.NodeId, value: NodeId.resolveNodeId(SC.RsaSha256ApplicationCertificateType) },
    { dataType: DataType.ByteString, value: certificate },
    { dataType: DataType.ByteString, arrayType: VariantArrayType.Array, value: issuers },
    { dataType: DataType.String, value: privateKey?.format ?? "" },
    { dataType: DataType.ByteString, value: privateKey?.key ?? null },
  ]);
  return required.value as boolean;
}

/** ApplyChanges; the server may drop the channel right after answering. */
export async function applyChanges(session: ClientSession): Promise<void> {
  await call(session, SC.object, SC.ApplyChanges);
}

/** GetRejectedList. */
export async function getRejectedList(session: ClientSession): Promise<Buffer[]> {
  const [list] = await call(session, SC.object, SC.GetRejectedList);
  return (list.value as Buffer[] | null) ?? [];
}

/** A test CA that signs device certificates from CSRs, as the GDS's does. */
export class TestCa {
  private constructor(
    readonly authority: CertificateAuthority,
    /** A temporary folder for the files it writes (removed by dispose). */
    readonly folder: string,
  ) {}

  static async create(name = "Push Test CA"): Promise<TestCa> {
    const folder = await tempDir("push-ca");
    const authority = await CertificateAuthority.loadOrCreate(path.join(folder, "ca"), { keySize: 2048, lifetimeDays: 30, subject: `CN=${name}, O=opcua-gds` }, systemClock);
    return new TestCa(authority, folder);
  }

  /** An existing CA (a GDS's own, from its data folder); files it writes go to a temporary folder. */
  static async load(caFolder: string): Promise<TestCa> {
    return new TestCa(await CertificateAuthority.load(caFolder, systemClock), await tempDir("push-ca-files"));
  }

  get certificateDer(): Buffer {
    return this.authority.certificateDer;
  }

  /** A current CRL (nothing revoked unless serials are given). */
  async crl(revokedSerials: string[] = []): Promise<Buffer> {
    const now = Date.now();
    return Buffer.from((await this.authority.signCrl(revokedSerials.map((serialHex) => ({ serialHex, revokedAtMs: now - 1000 })), 1, now - 60_000, now + 86400_000)).rawData);
  }

  /** The trust list a GDS pushes: this CA and its CRL, trusted. */
  async trustList(): Promise<TrustListContent> {
    return { trustedCertificates: [this.certificateDer], trustedCrls: [await this.crl()], issuerCertificates: [], issuerCrls: [] };
  }

  /** Signs a CSR with the URI and host names it carries. */
  async signCsr(csrDer: Buffer, lifetimeDays = 10): Promise<Buffer> {
    const csr = await parseCertificateRequest(csrDer);
    const cert = await this.authority.issueApplicationCertificate(csr.publicKey, {
      subject: csr.subject,
      applicationUri: csr.uris[0],
      dnsNames: csr.dnsNames,
      ipAddresses: csr.ipAddresses,
      lifetimeDays,
      backdateSeconds: 60,
    });
    return Buffer.from(cert.rawData);
  }

  /** A new key pair and a certificate for `applicationUri` (for devices that cannot make keys). */
  async issueWithKey(applicationUri: string, options: { lifetimeDays?: number; backdateSeconds?: number } = {}): Promise<{ certificate: Buffer; privateKeyPem: string; privateKeyPkcs8: Buffer }> {
    const keys = await generateRsaKeyPair(2048);
    const cert = await this.authority.issueApplicationCertificate(keys.publicKey, {
      subject: "CN=Issued with key, O=opcua-gds",
      applicationUri,
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      lifetimeDays: options.lifetimeDays ?? 10,
      backdateSeconds: options.backdateSeconds ?? 60,
    });
    const privateKeyPem = await privateKeyToPem(keys.privateKey);
    return { certificate: Buffer.from(cert.rawData), privateKeyPem, privateKeyPkcs8: Buffer.from(await (webcrypto.subtle as unknown as SubtleCrypto).exportKey("pkcs8", keys.privateKey)) };
  }

  /** A client application certificate issued by this CA, written to files (as the GDS's own). */
  async clientApplication(applicationUri: string): Promise<{ applicationUri: string; certificateFile: string; privateKeyFile: string; certificate: Buffer }> {
    const issued = await this.issueWithKey(applicationUri);
    const certificateFile = path.join(this.folder, `client-${Date.now()}-${Math.random().toString(16).slice(2)}.pem`);
    const privateKeyFile = `${certificateFile}.key`;
    const pem = [issued.certificate, this.certificateDer].map((der) => new X509Certificate(der).toString()).join("");
    await fs.writeFile(certificateFile, pem);
    await fs.writeFile(privateKeyFile, issued.privateKeyPem, { mode: 0o600 });
    return { applicationUri, certificateFile, privateKeyFile, certificate: issued.certificate };
  }

  async dispose(): Promise<void> {
    await fs.rm(this.folder, { recursive: true, force: true });
  }
}

/** How a test client reaches a push target. */
export interface PushClientOptions {
  user?: { userName: string; password: string };
  mode?: MessageSecurityMode;
  application?: { applicationUri: string; certificateFile: string; privateKeyFile: string };
}

const stores: OPCUACertificateManager[] = [];

/** A client PKI store that accepts servers' certificates (devices start self-signed). */
async function acceptingStore(): Promise<OPCUACertificateManager> {
  const manager = new OPCUACertificateManager({ rootFolder: await tempDir("push-client-pki"), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
  await manager.initialize();
  stores.push(manager);
  return manager;
}

/** Opens a session, runs `work`, and always closes session and connection (a dropped channel is no error here). */
export async function withPushSession<T>(endpointUrl: string, options: PushClientOptions, work: (session: ClientSession, client: OPCUAClient) => Promise<T>): Promise<T> {
  const client = OPCUAClient.create({
    applicationName: "opcua-gds-push-test",
    securityMode: options.mode ?? MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    defaultTransactionTimeout: 60_000,
    clientCertificateManager: await acceptingStore(),
    ...(options.application ?? {}),
  });
  await client.connect(endpointUrl);
  try {
    const identity = options.user ? { type: UserTokenType.UserName as const, ...options.user } : { type: UserTokenType.Anonymous as const };
    const session = await client.createSession(identity);
    try {
      return await work(session, client);
    } finally {
      await session.close().catch(() => undefined);
    }
  } finally {
    await client.disconnect().catch(() => undefined);
  }
}

/** The leaf certificate the server presents in its endpoint descriptions, fetched over a new connection. */
export async function presentedCertificate(endpointUrl: string): Promise<Buffer> {
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 }, clientCertificateManager: await acceptingStore() });
  await client.connect(endpointUrl);
  try {
    const endpoints = await client.getEndpoints();
    const chain = endpoints.find((e) => e.securityMode === MessageSecurityMode.SignAndEncrypt)?.serverCertificate;
    if (!chain) throw new Error("no SignAndEncrypt endpoint with a certificate");
    return new X509Certificate(chain).raw;
  } finally {
    await client.disconnect();
  }
}

/** The SPKI of a certificate's public key, to compare keys. */
export function spkiOf(certificateDer: Buffer): Buffer {
  return new X509Certificate(certificateDer).publicKey.export({ type: "spki", format: "der" });
}

/** Disposes the client PKI stores made by this process. */
export async function disposePushClientStores(): Promise<void> {
  for (const m of stores.splice(0)) {
    await m.dispose();
    await fs.rm(m.rootDir, { recursive: true, force: true });
  }
}

/** True when `port` can be bound on 127.0.0.1 right now. */
async function portIsFree(port: number): Promise<boolean> {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ port, host: "127.0.0.1", exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/**
 * A base port such that `count` consecutive ports are free now (the simulator needs consecutive
 * ports, so port 0 will not do), picked at random in 20000..39999 to keep parallel suites apart.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (20000 - count));
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await portIsFree(p);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
