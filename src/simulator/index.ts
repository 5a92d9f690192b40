import { X509Certificate } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { OPCUACertificateManager } from "node-opcua";
import { startSimulatedDevice, type RunningDevice, type SimulatedDeviceOptions } from "./simulated-device";

export type { DeviceBehaviour, SimulatedDeviceOptions } from "./simulated-device";

/** A fleet of simulated devices for tests, demos and benchmarks. */
export interface SimulatorOptions {
  count: number;
  basePort: number;
  /** Address the devices listen on and put in their endpoint URLs; default 127.0.0.1. */
  host?: string;
  /** Each device keeps its certificate, key and trust list in `dataFolder/device-<index>`. */
  dataFolder: string;
  /** The device user with the SecurityAdmin role; default "admin". */
  user?: string;
  password: string;
  /** Device i has the ApplicationUri `${prefix}:${i}`; default "urn:opcua-gds:simulated:device". */
  applicationUriPrefix?: string;
  /** Devices that behave otherwise, by index. */
  behaviours?: Record<number, "refuse-certificate" | "no-key-generation">;
  /** MaxTrustListSize of every device in bytes; default 1 MiB. */
  maxTrustListSize?: number;
  /** X509 user-token certificates (DER) every device accepts, each as a user with the SecurityAdmin role. */
  userCertificates?: Buffer[];
}

/** A started device, as a test or benchmark reaches it. */
export interface SimulatedDevice {
  index: number;
  endpointUrl: string;
  applicationUri: string;
  dataFolder: string;
}

export const DEFAULT_APPLICATION_URI_PREFIX = "urn:opcua-gds:simulated:device";

/**
 * The user name node-opcua gives a session opened with an X509 user token: the certificate's
 * common name. Only certificates in the devices' user trust store open such a session at all.
 */
function x509UserName(der: Buffer): string {
  const cn = /^CN=(.*)$/m.exec(new X509Certificate(der).subject);
  if (!cn) throw new RangeError("an X509 user certificate needs a common name (CN): devices name the user after it");
  return cn[1];
}

/** Devices started at once: start-up is CPU work (NodeSet, keys) on a small machine, a little overlap hides file I/O. */
const START_CONCURRENCY = 2;

function checkOptions(o: SimulatorOptions): void {
  if (!Number.isInteger(o.count) || o.count < 1) throw new RangeError("count must be a positive integer");
  if (!Number.isInteger(o.basePort) || o.basePort < 1 || o.basePort + o.count - 1 > 65535) throw new RangeError("basePort + count - 1 must be a TCP port (1..65535)");
  if (!o.password) throw new RangeError("a password is needed for the devices' user");
  for (const key of Object.keys(o.behaviours ?? {})) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= o.count) throw new RangeError(`behaviour for device ${key}, which is not one of 0..${o.count - 1}`);
  }
}

/**
 * Starts `count` push-capable OPC UA servers in this process, device i on host:basePort+i, and
 * resolves once every one listens. A device that fails to start stops the ones already started and
 * rejects. `stop()` stops them all.
 */
export async function startSimulatedDevices(o: SimulatorOptions): Promise<{ devices: SimulatedDevice[]; stop(): Promise<void> }> {
  const fleet = await startSimulatedFleet(o);
  return { devices: fleet.devices, stop: fleet.stop };
}

/** A started fleet: `close()` takes every device off the network at once, `stop()` also frees them. */
export interface SimulatedFleet {
  devices: SimulatedDevice[];
  close(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * startSimulatedDevices with a quick close() besides stop(): a process that exits right after
 * (the `simulate` command) need not free a hundred address spaces one by one.
 */
export async function startSimulatedFleet(o: SimulatorOptions): Promise<SimulatedFleet> {
  checkOptions(o);
  const host = o.host ?? "127.0.0.1";
  const prefix = o.applicationUriPrefix ?? DEFAULT_APPLICATION_URI_PREFIX;
  await fs.mkdir(o.dataFolder, { recursive: true, mode: 0o700 });
  const userCertificateManager = new OPCUACertificateManager({ rootFolder: path.join(o.dataFolder, "user-pki"), automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
  await userCertificateManager.initialize();
  const x509Users = new Set<string>();
  for (const der of o.userCertificates ?? []) {
    await userCertificateManager.trustCertificate(der);
    x509Users.add(x509UserName(der));
  }

  const running: RunningDevice[] = [];
  const devices: SimulatedDevice[] = [];
  const settle = async (work: (d: RunningDevice) => Promise<void>, devicesNow: RunningDevice[], what: string) => {
    const results = await Promise.allSettled(devicesNow.map(work));
    const errors = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    if (errors.length) throw new Error(`${errors.length} simulated device(s) failed to ${what}: ${String(errors[0])}`);
  };
  const closeAll = () => settle((d) => d.close(), [...running], "close");
  const stopAll = async () => {
    // Every device leaves the network first (quick), then each frees its address space (mostly CPU).
    const stopping = running.splice(0);
    try {
      await settle((d) => d.close(), stopping, "close");
      await settle((d) => d.stop(), stopping, "stop");
    } finally {
      await userCertificateManager.dispose();
    }
  };

  const start = async (index: number) => {
    const options: SimulatedDeviceOptions = { index, port: o.basePort + index, applicationUri: `${prefix}:${index}`, behaviour: o.behaviours?.[index] ?? "normal" };
    const folder = path.join(o.dataFolder, `device-${index}`);
    // Each server disposes its user certificate manager when it shuts down: count the users of the shared one.
    userCertificateManager.referenceCounter++;
    const device = await startSimulatedDevice(options, { host, folder, user: o.user ?? "admin", password: o.password, maxTrustListSize: o.maxTrustListSize, userCertificateManager, x509Users });
    running.push(device);
    devices[index] = { index, endpointUrl: device.endpointUrl, applicationUri: options.applicationUri, dataFolder: folder };
  };

  try {
    let next = 0;
    const worker = async () => {
      while (next < o.count) await start(next++);
    };
    await Promise.all(Array.from({ length: Math.min(START_CONCURRENCY, o.count) }, worker));
  } catch (e) {
    await stopAll().catch(() => undefined);
    throw e;
  }
  return { devices, close: closeAll, stop: stopAll };
}
