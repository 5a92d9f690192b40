/**
 * A push target from an independent implementation: node-opcua 2.157 with
 * node-opcua-server-configuration 2.157, installed in its own folder (test-devices/node-opcua-2157)
 * by test-devices/install.js and run as a child process. Its certificate side (CreateSigningRequest,
 * UpdateCertificate, ApplyChanges, GetRejectedList) follows the standard; its trust-list side is
 * mostly a stub, so trust-list pushes are verified against the simulator instead.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import readline from "node:readline";

/** The device script, relative to this compiled helper: dist/test/helpers -> test-devices/. */
const DEVICE_SCRIPT = path.resolve(__dirname, "../../../test-devices/node-opcua-2157/device.js");

export interface ReferenceDevice {
  endpointUrl: string;
  applicationUri: string;
  stop(): Promise<void>;
}

export interface ReferenceDeviceOptions {
  port: number;
  pkiFolder: string;
  applicationUri: string;
  user: string;
  password: string;
}

/** Starts the device and resolves once it prints `ready` (rejects if it exits first or takes over 60 s). */
export async function startReferenceDevice(o: ReferenceDeviceOptions): Promise<ReferenceDevice> {
  const child: ChildProcess = spawn(
    process.execPath,
    [DEVICE_SCRIPT, "--port", String(o.port), "--pki", o.pkiFolder, "--application-uri", o.applicationUri, "--user", o.user],
    { env: { ...process.env, DEVICE_PASSWORD: o.password }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.once("exit", () => {
        clearTimeout(killer);
        resolve();
      });
      child.kill("SIGTERM");
    });
  const endpointUrl = await new Promise<string>((resolve, reject) => {
    let endpoint = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the reference device did not start within 60 s: ${stderr}`));
    }, 60_000);
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      if (line.startsWith("{")) endpoint = (JSON.parse(line) as { endpointUrl: string }).endpointUrl;
      if (line === "ready") {
        clearTimeout(timer);
        resolve(endpoint);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the reference device exited with ${code} before it was ready: ${stderr}`));
    });
  });
  return { endpointUrl, applicationUri: o.applicationUri, stop };
}
