import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CERTIFICATE_GROUPS, groupByName } from "../domain/certificate-groups";
import { parseDurationMs } from "../domain/duration";
import { GdsError } from "../domain/errors";
import { parseDriftPolicy, type DriftPolicy } from "../domain/distribution";
import type { LoginThrottlePolicy } from "../domain/login-throttle";
import { DEFAULT_RENEWAL_POLICY, parseRenewalPolicy, type RenewalPolicy } from "../domain/renewal";

/** The one configuration of a GDS instance; every default is declared here. */
export interface GdsConfig {
  /** Data folder: database (SQLite), CAs and the server's PKI store. Default `./pki-store`. */
  dataDir: string;
  /** `postgres://` URL (flag `--db` or `OPCUA_GDS_DB`); SQLite in the data folder when absent. */
  databaseUrl?: string;
  /** TCP port; default 58810, the port of the OPC Foundation's GDS. 0 picks a free one. */
  port: number;
  /** Address to listen on (`--host`); all interfaces when absent. Also the endpoint host name, unless a public host is set. */
  host?: string;
  /** Host name in endpoint URLs and in the server certificate; the machine's name by default. */
  hostname: string;
  /** ApplicationUri of the GDS itself: `urn:<public host, or this machine's name>:opcua-gds`. */
  applicationUri: string;
  productUri: string;
  applicationName: string;
  /** Refuse channels from clients whose certificate is not trusted (`--strict-trust`). */
  strictTrust: boolean;
  /** RSA size of a new CA key (`OPCUA_GDS_CA_KEY_SIZE`: 2048, 3072 or 4096). Default 2048. */
  caKeySize: 2048 | 3072 | 4096;
  /**
   * Passphrase of the CA private keys (`OPCUA_GDS_CA_PASSPHRASE`; empty counts as unset). When set,
   * new CA keys are written as encrypted PKCS#8 and a plaintext CA key is re-encrypted when loaded;
   * when unset, an encrypted CA key cannot be loaded. A secret: never print or log it.
   */
  caPassphrase?: string;
  /**
   * A PKCS#11 token for the CA keys (`OPCUA_GDS_CA_PKCS11_MODULE`, `OPCUA_GDS_CA_PKCS11_TOKEN`,
   * `OPCUA_GDS_CA_PKCS11_PIN` or `OPCUA_GDS_CA_PKCS11_PIN_FILE`): new CA keys are generated inside
   * it, not extractable. Unset: CA keys are files. The PIN is a secret: never print or log it.
   */
  caPkcs11?: Pkcs11Settings;
  caLifetimeDays: number;
  /** Lifetime of the GDS's own application certificate. */
  serverCertificateLifetimeDays: number;
  /**
   * Approval of certificate requests (`--approval`): `auto` issues requests of a
   * CertificateAuthorityAdmin or of an application renewing itself at once; `manual` makes every
   * request wait for a RegistrationAuthorityAdmin. Default `auto`.
   */
  approval: "auto" | "manual";
  /**
   * Most sessions (and secure channels) served at once (`OPCUA_GDS_MAX_SESSIONS`, default 500):
   * node-opcua's own default of 10 would turn away the 11th engineer or device of a plant.
   */
  maxSessions: number;
  /**
   * Lifetime of the application certificates the GDS issues (`OPCUA_GDS_CERT_LIFETIME_DAYS`, default
   * 365; or `OPCUA_GDS_CERT_LIFETIME` as a duration such as 90d or 10m, for short-lived certificates).
   */
  certificateLifetimeDays: number;
  /**
   * Fleet default user for pushes to devices without credentials of their own
   * (`OPCUA_GDS_PUSH_USER`, `OPCUA_GDS_PUSH_PASSWORD`); anonymous when unset. The password is a
   * secret: never print or log it.
   */
  pushUser?: string;
  pushPassword?: string;
  /**
   * Largest OPC UA message, request or response, in bytes (`OPCUA_GDS_MAX_MESSAGE_SIZE`, default
   * 16 MiB, 64 KiB to 128 MiB). Sent in the Acknowledge whatever a client's Hello asks: a client
   * cannot make the server assemble more (node-opcua would accept up to 128 MiB).
   */
  maxMessageSize: number;
  /** Most chunks of one message (`OPCUA_GDS_MAX_CHUNK_COUNT`; default maxMessageSize / 8 KiB, the smallest chunk). */
  maxChunkCount: number;
  /**
   * Slowing down password guessing (see domain/login-throttle.ts): `OPCUA_GDS_LOGIN_FREE_ATTEMPTS`
   * (failures of one user name before it is locked, default 5), `OPCUA_GDS_LOGIN_FREE_ATTEMPTS_PER_CLIENT`
   * (failures from one client certificate across names, default 20), `OPCUA_GDS_LOGIN_LOCKOUT_SECONDS`
   * (first lockout, doubled by each further failure, default 2) and `OPCUA_GDS_LOGIN_LOCKOUT_MAX_SECONDS`
   * (ceiling, default 900).
   */
  loginThrottle: LoginThrottlePolicy;
  /**
   * Most certificates kept in the server's `server-pki/rejected` folder, where node-opcua puts every refused
   * client certificate (`OPCUA_GDS_MAX_REJECTED_CERTIFICATES`, default 500): the oldest go first.
   */
  maxRejectedCertificates: number;
  /**
   * When each group's certificates are due for renewal (`OPCUA_GDS_RENEWAL` or `start --renewal`):
   * a comma-separated list of `GROUP=POLICY`, POLICY a percentage of the lifetime (`66%`) or a time
   * before expiry (`30d`); a POLICY without a group applies to every group not named. Default 2/3
   * of the lifetime, less a jitter of at most 2 % of it derived from the serial.
   */
  renewal: Record<string, RenewalPolicy>;
  /**
   * RSA key size of the groups' key policy (`OPCUA_GDS_KEY_SIZE`: 2048, 3072 or 4096; default 2048):
   * the size of keys the GDS generates and the smallest a request may carry. Certificates with
   * smaller keys are due for renewal (GetCertificateStatus answers UpdateRequired).
   */
  keySize: 2048 | 3072 | 4096;
  /**
   * How often the lifecycle scheduler of `start` looks for work (`OPCUA_GDS_SCHEDULER_INTERVAL`, a
   * duration, default 30s; `off` disables it): renewal pushes, due push jobs, and the tasks others
   * register. Only one instance on a shared PostgreSQL acts at a time.
   */
  schedulerIntervalMs: number | null;
  /**
   * Trust-list distribution and drift detection while `start` runs: how often the trust list each
   * push-managed server should hold is compared with what it got (`OPCUA_GDS_DISTRIBUTION_INTERVAL`,
   * default 30s), how often each one is read back (`OPCUA_GDS_DRIFT_INTERVAL`, default 1h; `off`
   * turns drift checks off), and what a difference leads to (`OPCUA_GDS_DRIFT_REPAIR`: `repair`,
   * the default, or `report`). Both run in the lifecycle scheduler.
   */
  distribution: { intervalMs: number; driftIntervalMs: number | null; driftPolicy: DriftPolicy };
  /**
   * How the scheduler of `start` runs push jobs (renewals, trust-list distribution, rollouts handed
   * over with `push --queue`): the longest attempt on one device (`OPCUA_GDS_PUSH_TIMEOUT`, a
   * duration, default 60s) and how many devices at once (`OPCUA_GDS_PUSH_CONCURRENCY`, default 8).
   * The timeout also bounds how long a job claimed by an instance that died stays with it.
   */
  scheduledPush: { timeoutMs: number; concurrency: number };
}

/** Where CA keys live when they are kept in a PKCS#11 token. */
export interface Pkcs11Settings {
  /** Path of the token's PKCS#11 library. */
  module: string;
  /** Label of the token. */
  token: string;
  /** User PIN of the token (a secret). */
  pin: string;
}

/** Flags as the CLI hands them over (all optional). */
export interface ConfigFlags {
  data?: string;
  db?: string;
  port?: string | number;
  host?: string;
  /** Name clients reach this GDS by, when it differs from --host (a load balancer's name). */
  publicHost?: string;
  strictTrust?: boolean;
  approval?: string;
  /** `start --renewal`, as OPCUA_GDS_RENEWAL. */
  renewal?: string;
}

export const DEFAULT_PORT = 58810;
export const DEFAULT_DATA_DIR = "pki-store";

function parsePort(value: string | number | undefined): number {
  if (value === undefined || value === "") return DEFAULT_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new GdsError("Configuration", `--port "${value}" is not a TCP port (0 to 65535)`);
  }
  return port;
}

function parseLifetimeDays(value: string | undefined): number {
  if (value === undefined || value === "") return 365;
  const n = Number(value);
  if (!(n > 0) || n > 3650) throw new GdsError("Configuration", `OPCUA_GDS_CERT_LIFETIME_DAYS "${value}" is not a number of days from above 0 to 3650`);
  return n;
}

const DAY_MS = 86_400_000;
/** Shortest lifetime OPCUA_GDS_CERT_LIFETIME accepts: a certificate must outlive a few renewal checks. */
const MIN_LIFETIME_MS = 10_000;

/** OPCUA_GDS_CERT_LIFETIME (a duration, finer than days) or OPCUA_GDS_CERT_LIFETIME_DAYS; not both. */
function parseCertificateLifetimeDays(env: NodeJS.ProcessEnv): number {
  const duration = env.OPCUA_GDS_CERT_LIFETIME;
  if (duration === undefined || duration === "") return parseLifetimeDays(env.OPCUA_GDS_CERT_LIFETIME_DAYS);
  if (env.OPCUA_GDS_CERT_LIFETIME_DAYS) throw new GdsError("Configuration", "set OPCUA_GDS_CERT_LIFETIME or OPCUA_GDS_CERT_LIFETIME_DAYS, not both");
  let ms: number;
  try {
    ms = parseDurationMs(duration);
  } catch {
    throw new GdsError("Configuration", `OPCUA_GDS_CERT_LIFETIME "${duration.slice(0, 40)}" is not a duration such as 90d, 12h or 10m`);
  }
  if (ms < MIN_LIFETIME_MS || ms > 3650 * DAY_MS) throw new GdsError("Configuration", `OPCUA_GDS_CERT_LIFETIME "${duration.slice(0, 40)}" is not between 10s and 3650d`);
  return ms / DAY_MS;
}

/** An integer environment setting within [min, max]; `fallback` when unset or empty. */
function integerSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const value = env[name];
  if (value === undefined || value.trim() === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new GdsError("Configuration", `${name} "${value.slice(0, 40)}" is not a number from ${min} to ${max}`);
  return n;
}

const MIB = 1024 * 1024;
/** The smallest chunk node-opcua negotiates: with it, a message of maxMessageSize needs this many chunks. */
const SMALLEST_CHUNK = 8192;

function parseLoginThrottle(env: NodeJS.ProcessEnv): LoginThrottlePolicy {
  const firstLockoutSeconds = integerSetting(env, "OPCUA_GDS_LOGIN_LOCKOUT_SECONDS", 2, 1, 3600);
  const maxLockoutSeconds = integerSetting(env, "OPCUA_GDS_LOGIN_LOCKOUT_MAX_SECONDS", 900, firstLockoutSeconds, 86_400);
  return {
    freeAttemptsPerUser: integerSetting(env, "OPCUA_GDS_LOGIN_FREE_ATTEMPTS", 5, 0, 1000),
    freeAttemptsPerClient: integerSetting(env, "OPCUA_GDS_LOGIN_FREE_ATTEMPTS_PER_CLIENT", 20, 0, 100_000),
    firstLockoutMs: firstLockoutSeconds * 1000,
    maxLockoutMs: maxLockoutSeconds * 1000,
  };
}

function parseApproval(value: string | undefined): "auto" | "manual" {
  if (value === undefined || value === "") return "auto";
  if (value === "auto" || value === "manual") return value;
  throw new GdsError("Configuration", `--approval "${value}" is not auto or manual`);
}

export const CA_KEY_SIZES = [2048, 3072, 4096] as const;


/** Parses OPCUA_GDS_RENEWAL / --renewal ("DefaultApplicationGroup=66%,DefaultHttpsGroup=30d", or "75%" for all). */
export function parseRenewalSetting(value: string | undefined, source = "OPCUA_GDS_RENEWAL"): Record<string, RenewalPolicy> {
  let fallback = DEFAULT_RENEWAL_POLICY;
  const named: Record<string, RenewalPolicy> = {};
  for (const item of (value ?? "").split(",").map((i) => i.trim()).filter(Boolean)) {
    const eq = item.indexOf("=");
    const policyText = eq < 0 ? item : item.slice(eq + 1);
    let policy: RenewalPolicy;
    let groupName: string | null = null;
    try {
      if (eq >= 0) groupName = groupByName(item.slice(0, eq).trim()).name;
      policy = parseRenewalPolicy(policyText);
    } catch (e) {
      throw new GdsError("Configuration", `${source} "${item.slice(0, 60)}": ${(e as Error).message}; write GROUP=PERCENT% or GROUP=DURATION, e.g. DefaultApplicationGroup=66%,DefaultHttpsGroup=30d`);
    }
    if (groupName === null) fallback = policy;
    else if (named[groupName]) throw new GdsError("Configuration", `${source} names ${groupName} twice`);
    else named[groupName] = policy;
  }
  return Object.fromEntries(CERTIFICATE_GROUPS.map((g) => [g.name, named[g.name] ?? fallback]));
}

const DEFAULT_SCHEDULER_INTERVAL_MS = 30_000;

function parseSchedulerInterval(value: string | undefined): number | null {
  return durationSetting("OPCUA_GDS_SCHEDULER_INTERVAL", value, DEFAULT_SCHEDULER_INTERVAL_MS, { minMs: 100, maxMs: 3_600_000, offAllowed: true });
}

/** A duration setting ("30s", "1h") within bounds, the fallback when unset; `off` gives null where allowed. */
function durationSetting(name: string, value: string | undefined, fallbackMs: number, range: { minMs: number; maxMs: number; offAllowed: boolean }): number | null {
  if (value === undefined || value.trim() === "") return fallbackMs;
  if (range.offAllowed && value.trim().toLowerCase() === "off") return null;
  let ms: number;
  try {
    ms = parseDurationMs(value);
  } catch {
    throw new GdsError("Configuration", `${name} "${value.slice(0, 40)}" is not a duration such as 30s or 5m${range.offAllowed ? ", or off" : ""}`);
  }
  if (ms < range.minMs || ms > range.maxMs) throw new GdsError("Configuration", `${name} "${value.slice(0, 40)}" is not between ${formatBound(range.minMs)} and ${formatBound(range.maxMs)}`);
  return ms;
}

function formatBound(ms: number): string {
  return ms >= 60_000 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}

function parseKeySize(value: string | undefined, name: string): 2048 | 3072 | 4096 {
  if (value === undefined || value.trim() === "") return 2048;
  const size = CA_KEY_SIZES.find((s) => String(s) === value.trim());
  if (size === undefined) throw new GdsError("Configuration", `${name} "${value.slice(0, 40)}" is not an RSA key size the GDS supports: set it to ${CA_KEY_SIZES.join(", ")} or leave it unset (2048)`);
  return size;
}

/** The PKCS#11 token of the CA keys, or undefined when OPCUA_GDS_CA_PKCS11_MODULE is unset. Messages never carry the PIN. */
function parsePkcs11(env: NodeJS.ProcessEnv): Pkcs11Settings | undefined {
  const module = env.OPCUA_GDS_CA_PKCS11_MODULE?.trim();
  if (!module) {
    const stray = ["OPCUA_GDS_CA_PKCS11_TOKEN", "OPCUA_GDS_CA_PKCS11_PIN", "OPCUA_GDS_CA_PKCS11_PIN_FILE"].find((name) => env[name]);
    if (stray) throw new GdsError("Configuration", `${stray} is set but OPCUA_GDS_CA_PKCS11_MODULE is not: set it to the token's PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so), or unset ${stray}`);
    return undefined;
  }
  const token = env.OPCUA_GDS_CA_PKCS11_TOKEN?.trim();
  if (!token) throw new GdsError("Configuration", "OPCUA_GDS_CA_PKCS11_MODULE is set: set OPCUA_GDS_CA_PKCS11_TOKEN to the label of the token that keeps the CA keys");
  const pinFile = env.OPCUA_GDS_CA_PKCS11_PIN_FILE;
  if (env.OPCUA_GDS_CA_PKCS11_PIN && pinFile) throw new GdsError("Configuration", "set OPCUA_GDS_CA_PKCS11_PIN or OPCUA_GDS_CA_PKCS11_PIN_FILE, not both");
  let pin = env.OPCUA_GDS_CA_PKCS11_PIN;
  if (pinFile) {
    try {
      // A trailing newline is the editor's, not the PIN's.
      pin = fs.readFileSync(pinFile, "utf8").replace(/\r?\n$/, "");
    } catch {
      throw new GdsError("Configuration", `cannot read OPCUA_GDS_CA_PKCS11_PIN_FILE ${pinFile}: check the file exists and is readable by this user`);
    }
  }
  if (!pin) throw new GdsError("Configuration", "OPCUA_GDS_CA_PKCS11_MODULE is set: set OPCUA_GDS_CA_PKCS11_PIN or OPCUA_GDS_CA_PKCS11_PIN_FILE to the token's user PIN");
  return { module, token, pin };
}

/** Resolves flags over environment over defaults. */
export function resolveConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): GdsConfig {
  // Several instances behind one address are one GDS to their clients: the shared name goes into
  // endpoint URLs, the ApplicationUri and the certificate, whatever machine each instance runs on.
  const publicHost = flags.publicHost ?? (env.OPCUA_GDS_PUBLIC_HOST || undefined);
  const hostname = publicHost ?? flags.host ?? os.hostname();
  const databaseUrl = flags.db ?? (env.OPCUA_GDS_DB || undefined);
  const maxMessageSize = integerSetting(env, "OPCUA_GDS_MAX_MESSAGE_SIZE", 16 * MIB, 64 * 1024, 128 * MIB);
  return {
    dataDir: path.resolve(flags.data ?? env.OPCUA_GDS_DATA ?? DEFAULT_DATA_DIR),
    databaseUrl,
    port: parsePort(flags.port ?? env.OPCUA_GDS_PORT),
    host: flags.host,
    hostname,
    applicationUri: `urn:${publicHost ?? os.hostname()}:opcua-gds`,
    productUri: "urn:opcua-gds",
    applicationName: "opcua-gds",
    strictTrust: flags.strictTrust ?? false,
    caKeySize: parseKeySize(env.OPCUA_GDS_CA_KEY_SIZE, "OPCUA_GDS_CA_KEY_SIZE"),
    caPassphrase: env.OPCUA_GDS_CA_PASSPHRASE || undefined,
    caPkcs11: parsePkcs11(env),
    caLifetimeDays: 3650,
    serverCertificateLifetimeDays: 365,
    approval: parseApproval(flags.approval ?? env.OPCUA_GDS_APPROVAL),
    maxSessions: integerSetting(env, "OPCUA_GDS_MAX_SESSIONS", 500, 1, 100_000),
    certificateLifetimeDays: parseCertificateLifetimeDays(env),
    pushUser: env.OPCUA_GDS_PUSH_USER || undefined,
    pushPassword: env.OPCUA_GDS_PUSH_USER ? (env.OPCUA_GDS_PUSH_PASSWORD ?? "") : undefined,
    maxMessageSize,
    maxChunkCount: integerSetting(env, "OPCUA_GDS_MAX_CHUNK_COUNT", Math.ceil(maxMessageSize / SMALLEST_CHUNK), 1, 65_536),
    loginThrottle: parseLoginThrottle(env),
    maxRejectedCertificates: integerSetting(env, "OPCUA_GDS_MAX_REJECTED_CERTIFICATES", 500, 0, 1_000_000),
    renewal: flags.renewal !== undefined ? parseRenewalSetting(flags.renewal, "--renewal") : parseRenewalSetting(env.OPCUA_GDS_RENEWAL),
    keySize: parseKeySize(env.OPCUA_GDS_KEY_SIZE, "OPCUA_GDS_KEY_SIZE"),
    schedulerIntervalMs: parseSchedulerInterval(env.OPCUA_GDS_SCHEDULER_INTERVAL),
    distribution: {
      intervalMs: durationSetting("OPCUA_GDS_DISTRIBUTION_INTERVAL", env.OPCUA_GDS_DISTRIBUTION_INTERVAL, 30_000, { minMs: 1000, maxMs: 86_400_000, offAllowed: false })!,
      driftIntervalMs: durationSetting("OPCUA_GDS_DRIFT_INTERVAL", env.OPCUA_GDS_DRIFT_INTERVAL, 3_600_000, { minMs: 10_000, maxMs: 7 * 86_400_000, offAllowed: true }),
      driftPolicy: parseDriftPolicy(env.OPCUA_GDS_DRIFT_REPAIR),
    },
    scheduledPush: {
      timeoutMs: durationSetting("OPCUA_GDS_PUSH_TIMEOUT", env.OPCUA_GDS_PUSH_TIMEOUT, 60_000, { minMs: 1000, maxMs: 3_600_000, offAllowed: false })!,
      concurrency: integerSetting(env, "OPCUA_GDS_PUSH_CONCURRENCY", 8, 1, 256),
    },
  };
}
