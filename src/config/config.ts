import os from "node:os";
import path from "node:path";
import { parseDurationMs } from "../domain/duration";
import { GdsError } from "../domain/errors";
import { parseDriftPolicy, type DriftPolicy } from "../domain/distribution";
import type { LoginThrottlePolicy } from "../domain/login-throttle";

/** The one configuration of a GDS instance; every default is declared here. */
export interface GdsConfig {
  /** Data folder: database (SQLite), CAs and the server's PKI store. Default `./pki-store`. */
  dataDir: string;
  /** `postgres://` URL (flag `--db` or `OPCUA_GDS_DB`); SQLite in the data folder when absent. */
  databaseUrl?: string;
  /** TCP port; default 58810, the port of the OPC Foundation's GDS. 0 picks a free one. */
  port: number;
  /** Address to listen on (`--host`); all interfaces when absent. Also the endpoint host name. */
  host?: string;
  /** Host name in endpoint URLs and in the server certificate; the machine's name by default. */
  hostname: string;
  /** ApplicationUri of the GDS itself: `urn:<hostname>:opcua-gds`. */
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
   * Trust-list distribution and drift detection while `start` runs: how often the trust list each
   * push-managed server should hold is compared with what it got (`OPCUA_GDS_DISTRIBUTION_INTERVAL`,
   * default 30s), how often each one is read back (`OPCUA_GDS_DRIFT_INTERVAL`, default 1h; 0
   * turns drift checks off), and what a difference leads to (`OPCUA_GDS_DRIFT_REPAIR`: `repair`,
   * the default, or `report`).
   */
  distribution: { intervalMs: number; driftIntervalMs: number; driftPolicy: DriftPolicy };
}

/** Flags as the CLI hands them over (all optional). */
export interface ConfigFlags {
  data?: string;
  db?: string;
  port?: string | number;
  host?: string;
  strictTrust?: boolean;
  approval?: string;
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

function parseCaKeySize(value: string | undefined): 2048 | 3072 | 4096 {
  if (value === undefined || value.trim() === "") return 2048;
  const size = CA_KEY_SIZES.find((s) => String(s) === value.trim());
  if (size === undefined) throw new GdsError("Configuration", `OPCUA_GDS_CA_KEY_SIZE "${value}" is not an RSA key size the CA supports: set it to ${CA_KEY_SIZES.join(", ")} or leave it unset (2048)`);
  return size;
}

/** Resolves flags over environment over defaults. */
export function resolveConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): GdsConfig {
  const hostname = flags.host ?? os.hostname();
  const databaseUrl = flags.db ?? (env.OPCUA_GDS_DB || undefined);
  const maxMessageSize = integerSetting(env, "OPCUA_GDS_MAX_MESSAGE_SIZE", 16 * MIB, 64 * 1024, 128 * MIB);
  return {
    dataDir: path.resolve(flags.data ?? env.OPCUA_GDS_DATA ?? DEFAULT_DATA_DIR),
    databaseUrl,
    port: parsePort(flags.port ?? env.OPCUA_GDS_PORT),
    host: flags.host,
    hostname,
    applicationUri: `urn:${os.hostname()}:opcua-gds`,
    productUri: "urn:opcua-gds",
    applicationName: "opcua-gds",
    strictTrust: flags.strictTrust ?? false,
    caKeySize: parseCaKeySize(env.OPCUA_GDS_CA_KEY_SIZE),
    caPassphrase: env.OPCUA_GDS_CA_PASSPHRASE || undefined,
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
    distribution: {
      intervalMs: durationSetting(env, "OPCUA_GDS_DISTRIBUTION_INTERVAL", 30_000, 1000),
      driftIntervalMs: durationSetting(env, "OPCUA_GDS_DRIFT_INTERVAL", 3_600_000, 10_000, true),
      driftPolicy: parseDriftPolicy(env.OPCUA_GDS_DRIFT_REPAIR),
    },
  };
}

/** A duration from the environment ("30s", "1h"); `zeroAllowed`: "0" turns the feature off. */
function durationSetting(env: NodeJS.ProcessEnv, name: string, fallbackMs: number, minMs: number, zeroAllowed = false): number {
  const value = env[name];
  if (value === undefined || value === "") return fallbackMs;
  if (zeroAllowed && value.trim() === "0") return 0;
  let ms: number;
  try {
    ms = parseDurationMs(value);
  } catch {
    throw new GdsError("Configuration", `${name} "${value.slice(0, 40)}" is not a duration such as 30s, 15m or 1h${zeroAllowed ? " (or 0 for off)" : ""}`);
  }
  if (ms < minMs) throw new GdsError("Configuration", `${name} "${value.slice(0, 40)}" is shorter than ${minMs / 1000}s`);
  return ms;
}
