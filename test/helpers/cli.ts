/**
 * Helpers of the end-to-end tests of the built `opcua-gds` command line: each command is a child
 * process `node dist/src/cli/main.js ...`, `start` runs in the background, and a real OPC UA client
 * talks to it. Every child process is tracked so that an `after` hook can kill what still runs.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { MessageSecurityMode, OPCUACertificateManager, OPCUAClient, SecurityPolicy, UserTokenType } from "node-opcua";
import { DirectoryClient } from "../../src/client/directory-client";

/** The built CLI, relative to this compiled helper: dist/test/helpers -> dist/src/cli/main.js. */
export const CLI = path.resolve(__dirname, "../../src/cli/main.js");

/** Every child process started through these helpers, so that `after` can kill whatever is still running. */
export const children = new Set<ChildProcess>();

/** Working directory of the CLI processes (the test's temporary root once `setCliWorkDir` was called). */
let workDir = os.tmpdir();

/** Runs the CLI processes in `dir` (so that a default `./pki-store` never lands in the repository). */
export function setCliWorkDir(dir: string): void {
  workDir = dir;
}

/** Kills (SIGKILL) every tracked child that still runs and forgets them all; for `after` hooks. */
export function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
}

/** The environment of a CLI process: none of the GDS variables of the caller, plus `extra`. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["OPCUA_GDS_ADMIN_PASSWORD", "OPCUA_GDS_DB", "OPCUA_GDS_DATA", "OPCUA_GDS_PORT", "OPCUA_GDS_APPROVAL"]) delete env[name];
  return { ...env, ...extra };
}

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once the process has exited and its output is closed. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the process exits (before its output may be fully read). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface CliOptions {
  /** Extra environment variables (over `cliEnv`). */
  env?: Record<string, string>;
  /** What to write to stdin (stdin is closed at once otherwise). */
  input?: string;
}

export function spawnCli(args: string[], options: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: workDir, env: cliEnv(options.env), stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  child.stdin!.on("error", () => undefined);
  if (options.input !== undefined) child.stdin!.end(options.input);
  else child.stdin!.end();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, stdout: () => out, stderr: () => err, closed, exited };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to its end (killed after `timeoutMs`). */
export async function cli(args: string[], options: CliOptions & { timeoutMs?: number } = {}): Promise<CliResult> {
  const p = spawnCli(args, options);
  const timeoutMs = options.timeoutMs ?? 90_000;
  const timer = setTimeout(() => p.child.kill("SIGKILL"), timeoutMs);
  try {
    const { code, signal } = await p.closed;
    if (signal) assert.fail(`opcua-gds ${args.join(" ")} was killed (${signal}) after ${timeoutMs} ms\nstdout: ${p.stdout()}\nstderr: ${p.stderr()}`);
    return { code, stdout: p.stdout(), stderr: p.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command that must succeed and returns its output. */
export async function cliOk(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const r = await cli(args, options);
  assert.equal(r.code, 0, `opcua-gds ${args.join(" ")} exited with ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** Runs a `--json` command that must succeed; the whole of stdout must be one JSON document. */
export async function cliJson<T = unknown>(args: string[], options: CliOptions = {}): Promise<T> {
  const r = await cliOk(args, options);
  try {
    return JSON.parse(r.stdout) as T;
  } catch (e) {
    assert.fail(`stdout of opcua-gds ${args.join(" ")} is not pure JSON (${(e as Error).message}):\n${r.stdout}`);
  }
}

/** A running `opcua-gds start`. */
export interface RunningServer extends CliProcess {
  endpointUrl: string;
}

/** Waits until the process's stdout matches `pattern` (rejects when it exits first or after `timeoutMs`). */
export async function waitForOutput(p: CliProcess, pattern: RegExp, what: string, timeoutMs = 90_000): Promise<RegExpExecArray> {
  return new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no ${what} within ${timeoutMs / 1000} s\nstdout: ${p.stdout()}\nstderr: ${p.stderr()}`));
    }, timeoutMs);
    const onData = () => {
      const m = pattern.exec(p.stdout());
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`the process exited with ${code} before ${what}\nstdout: ${p.stdout()}\nstderr: ${p.stderr()}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      p.child.stdout!.off("data", onData);
      p.child.off("exit", onExit);
    };
    p.child.stdout!.on("data", onData);
    p.child.once("exit", onExit);
    onData();
  });
}

/** Starts `opcua-gds start ...` in the background and waits for its "listening on" line. */
export async function startServer(args: string[], options: { env?: Record<string, string> } = {}): Promise<RunningServer> {
  const p = spawnCli(["start", ...args], { env: options.env });
  const [, endpointUrl] = await waitForOutput(p, /opcua-gds listening on (opc\.tcp:\/\/\S+)/, 'a "listening on" line');
  return { ...p, endpointUrl };
}

/** Sends SIGTERM and returns the exit code, how long the exit took, and the full output. */
export async function stopServer(server: CliProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; stdout: string; stderr: string }> {
  const t0 = Date.now();
  server.child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([server.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 15_000)))]);
  clearTimeout(timer);
  const ms = Date.now() - t0;
  if (exit === null) {
    server.child.kill("SIGKILL");
    assert.fail(`the process did not exit within 15 s of SIGTERM\nstdout: ${server.stdout()}\nstderr: ${server.stderr()}`);
  }
  await server.closed;
  return { ...exit, ms, stdout: server.stdout(), stderr: server.stderr() };
}

/** Kills a process if it still runs (finally hooks). */
export async function killIfRunning(p: CliProcess | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill("SIGKILL");
  await p.closed.catch(() => undefined);
}

/** The folder of the CA of DefaultApplicationGroup (RSA SHA-256) in a data folder. */
export function caFolder(dataDir: string): string {
  return path.join(dataDir, "ca", "DefaultApplicationGroup", "RsaSha256ApplicationCertificateType");
}

/**
 * Opens a SignAndEncrypt session as `user` on the GDS of `dataDir`, with a client PKI store (under
 * `pkiRoot`) that trusts the GDS CA and its CRL, so the server certificate is verified for real.
 */
export async function withDirectory<T>(endpointUrl: string, dataDir: string, pkiRoot: string, user: { userName: string; password: string }, work: (d: DirectoryClient) => Promise<T>): Promise<T> {
  const manager = new OPCUACertificateManager({ rootFolder: pkiRoot, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
  await manager.initialize();
  try {
    await fs.copyFile(path.join(caFolder(dataDir), "ca.cert.pem"), path.join(pkiRoot, "trusted", "certs", "gds-ca.pem"));
    await fs.copyFile(path.join(caFolder(dataDir), "ca.crl.pem"), path.join(pkiRoot, "trusted", "crl", "gds-ca.crl.pem"));
    await manager.reloadCertificates?.();
    const client = OPCUAClient.create({
      applicationName: "opcua-gds-e2e-client",
      securityMode: MessageSecurityMode.SignAndEncrypt,
      securityPolicy: SecurityPolicy.Basic256Sha256,
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      clientCertificateManager: manager,
    });
    await client.connect(endpointUrl);
    try {
      const session = await client.createSession({ type: UserTokenType.UserName, ...user });
      try {
        return await work(await DirectoryClient.create(session));
      } finally {
        await session.close();
      }
    } finally {
      await client.disconnect();
    }
  } finally {
    await manager.dispose();
  }
}
