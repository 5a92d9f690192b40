import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import type { StoreChange } from "../../client/index";
import { ApplicationType, validateApplicationFields, type ApplicationFields } from "../../domain/application";
import { parseDurationMs } from "../../domain/duration";
import { GdsError, invalidArgument, type GdsErrorKind } from "../../domain/errors";
import { certificateDer, pemBlocks } from "../../domain/pem";
import { readStdin, say } from "../output";

interface AgentCliOptions {
  gds: string;
  pki: string;
  applicationUri: string;
  gdsCa: string[];
  user?: string;
  passwordStdin?: boolean;
  applicationName?: string;
  applicationType?: string;
  productUri: string;
  discoveryUrl: string[];
  capability: string[];
  host: string[];
  interval: string;
  poll: string;
  approvalTimeout: string;
  onChange?: string;
  verify?: string;
  keySize: string;
  once?: boolean;
}

/** How long an --on-change or --verify command may run. */
const HOOK_LIMIT_MS = 300_000;

const collect = (value: string, previous: string[]) => [...previous, value];

type ClientLibrary = typeof import("../../client/index");

/** Exit codes of `agent` for failures that have no GdsError kind (README documents them). */
const EXIT_UNREACHABLE = 11;
const EXIT_GDS_NOT_TRUSTED = 12;

function log(line: string): void {
  say(`${new Date().toISOString()} ${line}`);
}

const TYPES: Record<string, ApplicationType> = { server: ApplicationType.Server, client: ApplicationType.Client, clientandserver: ApplicationType.ClientAndServer };

/** The record the agent registers when the GDS does not know the application; checked here, before any connection. */
function applicationRecord(o: AgentCliOptions): ApplicationFields {
  const typeName = (o.applicationType ?? (o.discoveryUrl.length ? "server" : "client")).toLowerCase();
  const applicationType = TYPES[typeName];
  if (applicationType === undefined) throw invalidArgument(`--application-type "${o.applicationType}" is not server, client or clientandserver`);
  const name = o.applicationName ?? o.applicationUri.split(/[:/]/).filter(Boolean).pop() ?? o.applicationUri;
  return validateApplicationFields({
    applicationUri: o.applicationUri,
    applicationType,
    applicationNames: [{ locale: "en", text: name }],
    productUri: o.productUri,
    discoveryUrls: o.discoveryUrl,
    serverCapabilities: o.capability.length ? o.capability : applicationType === ApplicationType.Client ? [] : ["NA"],
  });
}

async function readCaFiles(files: string[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const file of files) {
    let data: Buffer;
    try {
      data = await fs.readFile(file);
    } catch (e) {
      throw new GdsError("Configuration", `cannot read --gds-ca ${file}: ${(e as Error).message}`);
    }
    const text = data.toString("latin1");
    if (text.includes("-----BEGIN")) out.push(...pemBlocks(text).filter((b) => b.label === "CERTIFICATE").map((b) => b.der));
    else out.push(certificateDer(data));
  }
  return out;
}

/** Runs a hook command through the shell with the store's paths in its environment; rejects on a non-zero exit. */
function runHook(what: string, command: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, { shell: true, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ...env } });
    const timer = setTimeout(() => child.kill("SIGKILL"), HOOK_LIMIT_MS);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${what} could not start: ${e.message}`));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${what} "${command}" failed (${signal ? `killed by ${signal}` : `exit ${code}`})`));
    });
  });
}

function durationOption(flag: string, text: string): number {
  try {
    return parseDurationMs(text);
  } catch {
    throw invalidArgument(`${flag} "${text}" is not a duration such as 30s, 10m or 1h`);
  }
}

/** The exit code and message of a failed round of `agent --once`. */
function failureOf(client: ClientLibrary, e: unknown): { code: number; message: string } | null {
  const { ApprovalTimeoutError, GdsClientError, GdsConnectionError } = client;
  if (e instanceof ApprovalTimeoutError) return { code: 9, message: e.message };
  if (e instanceof GdsConnectionError) return { code: e.failure === "unreachable" ? EXIT_UNREACHABLE : e.failure === "gds-not-trusted" ? EXIT_GDS_NOT_TRUSTED : 6, message: e.message };
  if (e instanceof GdsClientError) {
    const kinds: Record<string, GdsErrorKind> = { BadUserAccessDenied: "UserAccessDenied", BadRequestNotAllowed: "RequestNotAllowed", BadNotFound: "NotFound", BadInvalidArgument: "InvalidArgument", BadCertificateUriInvalid: "CertificateUriInvalid" };
    const kind = e.statusCode ? kinds[e.statusCode.name] : undefined;
    if (kind) throw new GdsError(kind, e.message);
    return { code: 1, message: e.message };
  }
  return null;
}

/** `opcua-gds agent`: keeps an application's PKI store current from a GDS. */
export function registerAgent(program: Command): void {
  program
    .command("agent")
    .description("keep an application's PKI folder current from a GDS: register, get and renew its certificate, refresh trust list and CRLs")
    .requiredOption("--gds <url>", "endpoint of the GDS, e.g. opc.tcp://gds.plant1:58810")
    .requiredOption("--pki <dir>", "the PKI folder the application reads (own/, trusted/, issuers/)")
    .requiredOption("--application-uri <uri>", "the application's ApplicationUri")
    .option("--gds-ca <file>", "CA certificate of the GDS (PEM or DER) to verify it on first contact; repeatable", collect, [])
    .option("--user <name>", "GDS user for registration and the first certificate (password: --password-stdin or OPCUA_GDS_AGENT_PASSWORD); without: onboarding window or self")
    .option("--password-stdin", "read the user's password from standard input")
    .option("--application-name <text>", "ApplicationName when registering (default: the last part of the URI)")
    .option("--application-type <type>", "server, client or clientandserver when registering (default: server with --discovery-url, client without)")
    .option("--product-uri <uri>", "ProductUri when registering", "urn:opcua-gds:agent")
    .option("--discovery-url <url>", "DiscoveryUrl when registering; repeatable", collect, [])
    .option("--capability <id>", "ServerCapability when registering; repeatable (default NA for servers)", collect, [])
    .option("--host <name>", "host name or IP address for the certificate; repeatable (default: the hosts of the DiscoveryUrls)", collect, [])
    .option("--interval <duration>", "time between two checks of certificate status and trust list", "10m")
    .option("--poll <duration>", "time between two collection attempts while a request waits for approval", "30s")
    .option("--approval-timeout <duration>", "with --once: how long to wait for an approval", "10m")
    .option("--on-change <command>", "shell command run after the PKI folder changed (env OPCUA_GDS_PKI, OPCUA_GDS_CHANGED)")
    .option("--verify <command>", "shell command run on the complete new folder before it goes live (env OPCUA_GDS_PKI_STAGED); non-zero keeps the previous folder")
    .option("--key-size <bits>", "RSA size of new keys: 2048, 3072 or 4096", "2048")
    .option("--once", "one round, then exit (cron, installers): 0 when the folder is current")
    .action(async (o: AgentCliOptions) => {
      const application = applicationRecord(o);
      const intervalMs = durationOption("--interval", o.interval);
      const pollMs = durationOption("--poll", o.poll);
      const approvalTimeoutMs = durationOption("--approval-timeout", o.approvalTimeout);
      const keySize = Number(o.keySize);
      if (![2048, 3072, 4096].includes(keySize)) throw invalidArgument(`--key-size "${o.keySize}" is not 2048, 3072 or 4096`);
      if (!/^opc\.tcp:\/\/[^\s/]+/i.test(o.gds)) throw invalidArgument(`--gds "${o.gds}" is not an opc.tcp:// URL`);
      let user: { userName: string; password: string } | undefined;
      if (o.user) {
        const password = o.passwordStdin ? await readStdin() : process.env.OPCUA_GDS_AGENT_PASSWORD;
        if (!password) throw invalidArgument("--user needs a password: give --password-stdin or set OPCUA_GDS_AGENT_PASSWORD");
        user = { userName: o.user, password };
      }
      const store = path.resolve(o.pki);
      // Loaded here: the other commands never load the OPC UA stack.
      const client: ClientLibrary = await import("../../client/index.js");
      const { PkiAgent, acquireStoreLock, agentPaths } = client;
      const gdsCaCertificates = await readCaFiles(o.gdsCa);
      const lock = await acquireStoreLock(agentPaths(store).lock, `the PKI folder ${store}`);
      if (lock.tookOver) log(`took over the lock of process ${lock.tookOver.pid}, which no longer runs`);
      const agent = new PkiAgent({
        endpointUrl: o.gds,
        store,
        application,
        user,
        gdsCaCertificates,
        hostNames: o.host.length ? o.host : undefined,
        keySize,
        intervalMs,
        pollIntervalMs: pollMs,
        approvalWaitMs: o.once ? approvalTimeoutMs : 0,
        log,
        beforeSwap: o.verify ? (staged) => runHook("--verify", o.verify!, { OPCUA_GDS_PKI_STAGED: staged, OPCUA_GDS_PKI: store }) : undefined,
        onChange: o.onChange
          ? async (change: StoreChange) => {
              const changed = [change.certificateChanged ? "certificate" : "", change.trustListChanged ? "trust-list" : ""].filter(Boolean).join(",");
              try {
                await runHook("--on-change", o.onChange!, { OPCUA_GDS_PKI: store, OPCUA_GDS_CHANGED: changed });
              } catch (e) {
                // The folder is written and stays; the command is retried at the next change only.
                log(`${(e as Error).message}; the PKI folder is written`);
                if (o.once) process.exitCode = 1;
              }
            }
          : undefined,
      });
      try {
        if (o.once) {
          try {
            const outcome = await agent.round();
            if (outcome.waitingForApproval) {
              log(`request ${outcome.waitingForApproval} still waits for approval; run again later`);
              process.exitCode = 9;
            } else if (!outcome.changed) log(`${store} is current`);
          } catch (e) {
            const failure = failureOf(client, e);
            if (!failure) throw e;
            process.stderr.write(`opcua-gds agent: ${failure.message}\n`);
            process.exitCode = failure.code;
          }
          return;
        }
        log(`agent for ${application.applicationUri} keeps ${store} current from ${o.gds} (every ${o.interval})`);
        const stop = new AbortController();
        const onSignal = (signal: string) => {
          log(`${signal}: stopping`);
          stop.abort();
        };
        process.once("SIGTERM", () => onSignal("SIGTERM"));
        process.once("SIGINT", () => onSignal("SIGINT"));
        await agent.run(stop.signal);
      } finally {
        await lock.release();
      }
    });
}
