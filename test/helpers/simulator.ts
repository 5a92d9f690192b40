/**
 * Simulated push-capable devices in a child process (`opcua-gds simulate`), and what tests and the
 * push benchmark check on them afterwards: the certificate an endpoint presents and the trust list
 * it reads back, over a SignAndEncrypt session that presents the GDS's own certificate.
 */
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  ObjectIds,
  SecurityPolicy,
  UserTokenType,
  makeBrowsePath,
  type NodeId,
} from "node-opcua";
import { readTrustList, type TrustListFiles } from "../../src/client/trust-list-reader";
import type { ApplicationFields } from "../../src/domain/application";
import type { DirectoryService } from "../../src/services/directory-service";
import { splitDerChain } from "../../src/push/device-connector";
import { inspectCertificate } from "./certificates";
import { spawnCli, type CliProcess } from "./cli";

/** A device as `simulate --json` lists it. */
export interface SimDevice {
  index: number;
  endpointUrl: string;
  applicationUri: string;
}

/** A running `opcua-gds simulate`. */
export interface Simulator {
  process: CliProcess;
  devices: SimDevice[];
  stop(): Promise<void>;
}

/** True when nothing listens on 127.0.0.1:port (it could be bound just now). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive free ports in a random place of 10000-32000: other suites run at
 * the same time, and Linux hands out ports from 32768 up to outgoing connections.
 */
export async function freePorts(count: number): Promise<number> {
  for (let round = 0; round < 50; round++) {
    const base = 10_000 + Math.floor(Math.random() * (22_000 - count));
    let all = true;
    for (let p = base; p < base + count && all; p++) all = await portFree(p);
    if (all) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

/** What startSimulator takes. */
export interface SimulatorStart {
  count: number;
  dataDir: string;
  password: string;
  refuseCertificate?: number[];
  noKeyGeneration?: number[];
  /** X509 user certificates (files) the devices accept as SecurityAdmin users. */
  userCertificateFiles?: string[];
  timeoutMs?: number;
}

/**
 * Starts `opcua-gds simulate` on free ports and waits for its `ready` line (start-up of many
 * devices takes a while on 2 cores); a port taken meanwhile by another process means another try
 * elsewhere. The devices' ports are basePort..basePort+count-1; basePort+count is free too (for a
 * device that does not answer).
 */
export async function startSimulator(options: SimulatorStart): Promise<Simulator & { basePort: number }> {
  for (let attempt = 1; ; attempt++) {
    const basePort = await freePorts(options.count + 1);
    try {
      return { ...(await startSimulatorAt({ ...options, basePort })), basePort };
    } catch (e) {
      if (attempt >= 4 || !/EADDRINUSE/.test((e as Error).message)) throw e;
    }
  }
}

async function startSimulatorAt(options: SimulatorStart & { basePort: number }): Promise<Simulator> {
  const args = ["simulate", "--count", String(options.count), "--base-port", String(options.basePort), "--data", options.dataDir, "--password-stdin", "--json"];
  if (options.refuseCertificate?.length) args.push("--refuse-certificate", options.refuseCertificate.join(","));
  if (options.noKeyGeneration?.length) args.push("--no-key-generation", options.noKeyGeneration.join(","));
  for (const file of options.userCertificateFiles ?? []) args.push("--user-certificate", file);
  const p = spawnCli(args, { input: `${options.password}\n` });
  const timeoutMs = options.timeoutMs ?? 240_000;
  const out = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`simulate printed no "ready" within ${timeoutMs} ms\nstdout: ${p.stdout()}\nstderr: ${p.stderr()}`)), timeoutMs);
    const onData = () => {
      if (/^ready\s*$/m.test(p.stdout())) done(null);
    };
    const onExit = (code: number | null) => done(new Error(`simulate exited with ${code}\nstdout: ${p.stdout()}\nstderr: ${p.stderr()}`));
    function done(err: Error | null) {
      clearTimeout(timer);
      p.child.stdout!.off("data", onData);
      p.child.off("exit", onExit);
      if (err) reject(err);
      else resolve(p.stdout());
    }
    p.child.stdout!.on("data", onData);
    p.child.once("exit", onExit);
  });
  const json = out.slice(0, out.search(/^ready\s*$/m));
  const parsed = JSON.parse(json) as SimDevice[] | { devices: SimDevice[] };
  const devices = Array.isArray(parsed) ? parsed : parsed.devices;
  return {
    process: p,
    devices,
    stop: async () => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return;
      p.child.kill("SIGTERM");
      const timer = setTimeout(() => p.child.kill("SIGKILL"), 20_000);
      await p.closed;
      clearTimeout(timer);
    },
  };
}

/** The application certificate a device's endpoint presents now (leaf, DER), from GetEndpoints. */
export async function presentedCertificate(endpointUrl: string): Promise<Buffer> {
  const client = OPCUAClient.create({ endpointMustExist: false, securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None, connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 } });
  await client.connect(endpointUrl);
  try {
    const endpoints = await client.getEndpoints();
    const secure = endpoints.find((e) => e.securityMode === MessageSecurityMode.SignAndEncrypt);
    if (!secure?.serverCertificate) throw new Error(`${endpointUrl} has no SignAndEncrypt endpoint`);
    return Buffer.from(splitDerChain(Buffer.from(secure.serverCertificate))[0]);
  } finally {
    await client.disconnect();
  }
}

/**
 * Reads a device's DefaultApplicationGroup trust list over SignAndEncrypt, presenting the GDS's own
 * certificate (after a trust-list push the device trusts nothing else) as `user`.
 */
export async function readDeviceTrustList(endpointUrl: string, gdsDataDir: string, user: { userName: string; password: string }, pkiRoot: string): Promise<TrustListFiles> {
  const manager = new OPCUACertificateManager({ rootFolder: pkiRoot, automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
  await manager.initialize();
  const client = OPCUAClient.create({
    applicationName: "opcua-gds",
    applicationUri: `urn:${os.hostname()}:opcua-gds`,
    certificateFile: path.join(gdsDataDir, "server-pki", "own", "certs", "gds-server.pem"),
    privateKeyFile: path.join(gdsDataDir, "server-pki", "own", "private", "private_key.pem"),
    clientCertificateManager: manager,
    endpointMustExist: false,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    defaultTransactionTimeout: 60_000,
  });
  try {
    await client.connect(endpointUrl);
    const session = await client.createSession({ type: UserTokenType.UserName, ...user });
    try {
      const [result] = await session.translateBrowsePath([makeBrowsePath(ObjectIds.Server, "/0:ServerConfiguration/0:CertificateGroups/0:DefaultApplicationGroup/0:TrustList")]);
      const trustList = result.targets?.[0]?.targetId as unknown as NodeId;
      if (!trustList) throw new Error(`${endpointUrl} has no DefaultApplicationGroup TrustList`);
      return await readTrustList(session, trustList);
    } finally {
      await session.close();
    }
  } finally {
    await client.disconnect();
    await manager.dispose();
  }
}

/**
 * The registration of a simulated device as an engineer would write it: DiscoveryUrls for the host
 * names its own certificate names (the GDS signs only names the registration allows).
 */
export async function simulatedDeviceRecord(device: SimDevice): Promise<ApplicationFields> {
  const own = inspectCertificate(await presentedCertificate(device.endpointUrl));
  const port = new URL(device.endpointUrl.replace("opc.tcp:", "http:")).port;
  const hosts = [...own.ipAddresses, ...own.dnsNames].map((h) => `opc.tcp://${h.includes(":") ? `[${h}]` : h}:${port}`);
  return {
    applicationUri: device.applicationUri,
    applicationType: 0,
    applicationNames: [{ locale: "en", text: `Simulated device ${device.index}` }],
    productUri: "urn:opcua-gds:simulator",
    discoveryUrls: [...new Set([device.endpointUrl, ...hosts])],
    serverCapabilities: [],
  };
}

/** Registers a simulated device (simulatedDeviceRecord) in process. Returns its ApplicationId. */
export async function registerSimulatedDevice(directory: DirectoryService, device: SimDevice): Promise<string> {
  return directory.registerApplication("test", await simulatedDeviceRecord(device));
}
