import "reflect-metadata";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import { CaAdministration } from "./ca/ca-admin";
import { CaRegistry } from "./ca/ca-registry";
import { ensureServerCertificate, removeServerTrust, writeCrlFile, writeServerTrust } from "./ca/gds-identity";
import type { LifecycleTask } from "./lifecycle/lifecycle-task";
import { DEFAULT_PUSH_TASK_OPTIONS, SCHEDULER_ACTOR, pushJobTask, renewalTask, type PushTaskOptions } from "./lifecycle/push-tasks";
import { LifecycleScheduler } from "./lifecycle/scheduler";
import { driftCheckTask, trustListDistributionTask } from "./lifecycle/distribution-tasks";
import { exists } from "./ca/key-files";
import { LocalAuthorities } from "./ca/local-authorities";
import { SecretBox } from "./ca/secret-box";
import type { GdsConfig } from "./config/config";
import type { GdsMetrics } from "./metrics/gds-metrics";
import { startMetricsServer, type MetricsServer } from "./metrics/metrics-server";
import { dataPaths } from "./config/data-folder";
import { DEFAULT_APPLICATION_GROUP } from "./domain/certificate-groups";
import { systemClock, type Clock } from "./domain/clock";
import { GdsError } from "./domain/errors";
import { ROLES, type Role } from "./domain/roles";
import { CaRolloverService } from "./services/ca-rollover-service";
import { CertificateService, DEFAULT_CERTIFICATE_POLICY, type CertificatePolicy } from "./services/certificate-service";
import { DirectoryService } from "./services/directory-service";
import { FleetService } from "./services/fleet-service";
import { ExportService } from "./services/export-service";
import { LoginGuard } from "./services/login-guard";
import { OnboardingService } from "./services/onboarding-service";
import { PushDevices } from "./services/push-devices";
import { DEFAULT_PUSH_POLICY, KEEP_ALIVE_MS, PushService, type PushPolicy, type StepHook } from "./services/push-service";
import { DriftDetection, DEFAULT_DRIFT_OPTIONS } from "./services/drift-detection";
import { TrustListDistribution } from "./services/trust-list-distribution";
import type { DeviceConnector } from "./services/push-ports";
import { generatePassword } from "./services/password";
import { UserService } from "./services/user-service";
import { ApplicationRepository } from "./store/application-repository";
import { AuditRepository } from "./store/audit-repository";
import { CertificateRepository } from "./store/certificate-repository";
import { FleetRepository } from "./store/fleet-repository";
import { leadershipFor } from "./store/leadership";
import { openDatabase, type Database } from "./store/database";
import { OnboardingRepository } from "./store/onboarding-repository";
import { PushJobRepository } from "./store/push-job-repository";
import { PushSettingsRepository } from "./store/push-settings-repository";
import { PushedStateRepository } from "./store/pushed-state-repository";
import { UserRepository } from "./store/user-repository";

/** The services of one GDS instance over its database and data folder. */
export interface GdsServices {
  config: GdsConfig;
  db: Database;
  directory: DirectoryService;
  certificates: CertificateService;
  rollover: CaRolloverService;
  onboarding: OnboardingService;
  users: UserService;
  push: PushService;
  audit: AuditRepository;
  fleet: FleetService;
  exports: ExportService;
  /** Trust-list distribution to push-managed servers (run by the scheduler of `start`). */
  distribution: TrustListDistribution;
  /** Read-back of push-managed servers (scheduled by `start`, or `push drift`). */
  drift: DriftDetection;
  close(): Promise<void>;
}

/** What tests and benchmarks may change of the push service. */
export interface PushServiceOptions {
  policy?: PushPolicy;
  afterStep?: StepHook;
  instanceId?: string;
}

/** Opens the database and CAs of `config` and builds the services on them (what CLI commands need). */
export async function openServices(config: GdsConfig, clock: Clock = systemClock, options: { push?: PushServiceOptions } = {}): Promise<GdsServices> {
  const paths = dataPaths(config.dataDir);
  await fs.mkdir(paths.root, { recursive: true, mode: 0o700 });
  const [registry, secrets] = await Promise.all([CaRegistry.loadOrCreate(config, paths, clock), SecretBox.open(paths.secretKey)]);
  let db: Database;
  try {
    db = await openDatabase({ url: config.databaseUrl, sqlitePath: paths.sqlite });
  } catch (e) {
    registry.close();
    throw e;
  }
  const applications = new ApplicationRepository(db, clock);
  const authorities = new LocalAuthorities(registry, config, paths, clock);
  const policy: CertificatePolicy = {
    ...DEFAULT_CERTIFICATE_POLICY,
    // A certificate that lives minutes (OPCUA_GDS_CERT_LIFETIME) is back-dated a tenth of its
    // lifetime, not an hour: an hour would put its renewal time in the past at issuance.
    backdateSeconds: Math.min(DEFAULT_CERTIFICATE_POLICY.backdateSeconds, Math.floor((config.certificateLifetimeDays * 86400) / 10)),
    groups: Object.fromEntries(Object.entries(DEFAULT_CERTIFICATE_POLICY.groups).map(([name, g]) => [name, { ...g, approval: config.approval, lifetimeDays: config.certificateLifetimeDays }])),
    renewal: config.renewal,
    newKeyPairBits: config.keySize,
    csr: { ...DEFAULT_CERTIFICATE_POLICY.csr, minRsaBits: config.keySize },
  };
  const certificateStore = new CertificateRepository(db, clock);
  const certificates = new CertificateService(applications, certificateStore, authorities, secrets, clock, policy);
  const audit = new AuditRepository(db, clock);
  const directory = new DirectoryService(applications, clock, (actor, id) => certificates.revokeApplication(actor, id, "application unregistered").then(() => undefined));
  // The server trusts GDS-issued clients through the CAs (during a rollover, old and new) and their CRLs in its own trust store.
  certificates.onCrlChanged(async (group, type, crl, issuer) => {
    await writeCrlFile(paths, group, type, crl.crlDer, issuer.superseded ? issuer.caSerialHex : undefined);
    if (group === DEFAULT_APPLICATION_GROUP.name) await writeServerTrust(paths, issuer.caCertificateDer, issuer.caSerialHex, crl.crlDer);
  });
  const rollover = new CaRolloverService(certificateStore, authorities, certificates, audit, clock);
  // The push client loads node-opcua: only when a command pushes.
  let connector: Promise<DeviceConnector & { dispose(): Promise<void> }> | null = null;
  // After a rollover step the push client starts again with the GDS's certificate and CAs as they are now.
  const forgetConnector = async () => {
    const old = connector;
    connector = null;
    if (old) await (await old.catch(() => null))?.dispose();
  };
  rollover.onChange({
    retired: async (group, _type, caSerialHex) => {
      if (group === DEFAULT_APPLICATION_GROUP.name) await removeServerTrust(paths, caSerialHex);
      await forgetConnector();
    },
    ownCertificateRenewed: forgetConnector,
  });
  const connect = () =>
    (connector ??= (async () => {
      if (!(await exists(paths.serverCertificate)) || !(await exists(paths.serverPrivateKey))) {
        throw new GdsError("Configuration", `the data folder ${config.dataDir} has no GDS certificate to present to devices: run \`opcua-gds init --data ${config.dataDir}\` first`);
      }
      const { NodeOpcuaDeviceConnector } = await import("./push/device-connector.js");
      const trust = await certificates.trustListContent(DEFAULT_APPLICATION_GROUP);
      return NodeOpcuaDeviceConnector.create({
        applicationUri: config.applicationUri,
        applicationName: config.applicationName,
        certificateFile: paths.serverCertificate,
        privateKeyFile: paths.serverPrivateKey,
        pkiFolder: paths.pushPki,
        caCertificates: [...trust.trustedCertificates, ...trust.issuerCertificates],
        caCrls: trust.trustedCrls,
      });
    })());
  const devices = new PushDevices(applications, certificates, new PushSettingsRepository(db, clock), connect, secrets, clock, { userName: config.pushUser, password: config.pushPassword });
  const pushJobs = new PushJobRepository(db, clock);
  const push = new PushService(applications, certificates, pushJobs, devices, clock, {
    instanceId: options.push?.instanceId ?? `${os.hostname()}/${process.pid}/${randomBytes(3).toString("hex")}`,
    // A dead run's jobs wait out the push timeout plus this margin: half the timeout, at most 30 s.
    policy: options.push?.policy ?? { ...DEFAULT_PUSH_POLICY, leaseMarginMs: Math.min(DEFAULT_PUSH_POLICY.leaseMarginMs, config.scheduledPush.timeoutMs / 2) },
    afterStep: options.push?.afterStep,
  });
  const pushed = new PushedStateRepository(db, clock);
  const distribution = new TrustListDistribution(applications, certificates, devices, push, pushJobs, pushed, config.distribution.intervalMs);
  const drift = new DriftDetection(distribution, devices, certificates, push, pushed, clock, { ...DEFAULT_DRIFT_OPTIONS, policy: config.distribution.driftPolicy });
  return {
    config,
    db,
    directory,
    certificates,
    rollover,
    onboarding: new OnboardingService(new OnboardingRepository(db, clock), clock),
    users: new UserService(new UserRepository(db, clock), clock),
    push,
    audit,
    fleet: new FleetService(new FleetRepository(db), clock, distribution),
    distribution,
    drift,
    exports: new ExportService(applications, certificateStore, certificates, authorities, secrets, audit, clock),
    close: async () => {
      await forgetConnector();
      await db.close();
      registry.close();
    },
  };
}

export type { CaDescription, CaInstallReport, CaSigningRequest } from "./ca/ca-admin";
export type { RenewReport, RolloverStatus } from "./services/ca-rollover-service";
export type { CaKeyStorage } from "./ca/ca-signing-key";
export { describeBackup, restoreBackup, takeBackup, type BackupDescription, type BackupReport, type RestoreReport } from "./backup/backup";

/** Administration of the CAs in the data folder of `config` (the `ca` commands); needs no database. */
export function caAdministration(config: GdsConfig, clock: Clock = systemClock): CaAdministration {
  return new CaAdministration(config, dataPaths(config.dataDir), clock);
}

/** The first administrator, created when the database has no user at all. */
export interface InitialAdmin {
  name: string;
  password: string;
  /** True when the password was generated (and must be shown once). */
  generated: boolean;
}

export const INITIAL_ADMIN_NAME = "admin";

/** Creates `admin` with every role when there is no user yet; its password comes from the environment or is generated. */
export async function ensureInitialAdmin(users: UserService, passwordFromEnv: string | undefined): Promise<InitialAdmin | null> {
  if (await users.hasUsers()) return null;
  const generated = !passwordFromEnv;
  const password = passwordFromEnv || generatePassword();
  await users.addUser("init", INITIAL_ADMIN_NAME, [...ROLES] as Role[], password);
  return { name: INITIAL_ADMIN_NAME, password, generated };
}

/** What `init` did. */
export interface InitReport {
  dataDir: string;
  createdServerCertificate: boolean;
  caCertificateFile: string;
  admin: InitialAdmin | null;
}

/**
 * Creates or completes the data folder on already opened services: CAs, first CRLs, the GDS's
 * certificate, the server's trust store, the first admin. Idempotent.
 */
async function initialize(services: GdsServices, env: NodeJS.ProcessEnv, clock: Clock): Promise<InitReport> {
  const config = services.config;
  const paths = dataPaths(config.dataDir);
  const registry = await CaRegistry.loadOrCreate(config, paths, clock);
  let createdServerCertificate: boolean;
  try {
    createdServerCertificate = await ensureServerCertificate(config, paths, registry);
  } finally {
    registry.close();
  }
  await services.certificates.refreshCrls("init");
  // A rollover made while the GDS was down (or its retirement falling due meanwhile) is taken care of.
  await services.rollover.checkRollover(clock.nowMs(), "init");
  await services.certificates.publishAllCrls();
  const admin = await ensureInitialAdmin(services.users, env.OPCUA_GDS_ADMIN_PASSWORD);
  return { dataDir: config.dataDir, createdServerCertificate, caCertificateFile: `${paths.caFolder()}/ca.cert.pem`, admin };
}

/** `init`: creates or completes the data folder. Idempotent. */
export async function initDataFolder(config: GdsConfig, clock: Clock = systemClock, env: NodeJS.ProcessEnv = process.env): Promise<InitReport> {
  const services = await openServices(config, clock);
  try {
    return await initialize(services, env, clock);
  } finally {
    await services.close();
  }
}

/** A running GDS: its endpoint and a stop that closes server and database. */
export interface RunningGds {
  endpointUrl: string;
  /** The lifecycle scheduler; null when OPCUA_GDS_SCHEDULER_INTERVAL is off. */
  scheduler: LifecycleScheduler | null;
  /** Where the Prometheus series are served, when asked for. */
  metricsUrl: string | null;
  services: GdsServices;
  init: InitReport;
  stop(): Promise<void>;
}

/** How often the CRLs are checked for re-signing while the server runs. */
const CRL_CHECK_INTERVAL_MS = 3600_000;
/**
 * How often the server looks for CRLs changed by another process (the CLI, a second instance on
 * the same PostgreSQL), so that its own channel trust follows a revocation within seconds.
 */
const CRL_FOLLOW_INTERVAL_MS = 5_000;

/** Identifies a file's current content cheaply (a rewrite renames a new file into place). */
async function fileIdentity(file: string): Promise<string> {
  const stat = await fs.stat(file).catch(() => null);
  return stat ? `${stat.ino}:${stat.mtimeMs}:${stat.size}` : "";
}

/**
 * The periodic tasks of the lifecycle scheduler, in the order they start: renewal planning,
 * trust-list distribution and drift checks (OPCUA_GDS_DISTRIBUTION_INTERVAL, OPCUA_GDS_DRIFT_INTERVAL),
 * then the push job runner that delivers what they queued (and resumes abandoned jobs).
 */
function lifecycleTasks(services: GdsServices, intervalMs: number, pushOptions: PushTaskOptions): LifecycleTask[] {
  const { distribution } = services.config;
  return [
    renewalTask(services.push, intervalMs, pushOptions),
    trustListDistributionTask(services.distribution, distribution.intervalMs),
    ...(distribution.driftIntervalMs === null ? [] : [driftCheckTask(services.drift, distribution.driftIntervalMs)]),
    pushJobTask(services.push, intervalMs, pushOptions),
    caRolloverTask(services),
  ];
}

/**
 * The scheduler's push settings from the configuration: a job abandoned by a dead run is taken over
 * once its run has not touched it for as long as one attempt may take (at least three of a living
 * run's keep-alive intervals).
 */
function scheduledPushOptions(config: GdsConfig): Partial<PushTaskOptions> {
  const { timeoutMs, concurrency } = config.scheduledPush;
  return { timeoutMs, concurrency, takeoverAfterMs: Math.max(timeoutMs, 3 * KEEP_ALIVE_MS) };
}

/** The CA rollover check (the GDS's own certificate moving last, retirement of old CAs), by the acting instance. */
function caRolloverTask(services: GdsServices): LifecycleTask {
  return {
    name: "ca rollover",
    everyMs: CRL_CHECK_INTERVAL_MS,
    run: async (nowMs) => {
      await services.rollover.checkRollover(nowMs, SCHEDULER_ACTOR);
    },
  };
}

/** init + services + OPC UA server + lifecycle scheduler, in that order. */
export async function startGds(
  config: GdsConfig,
  options: {
    clock?: Clock;
    env?: NodeJS.ProcessEnv;
    logError?: (m: string) => void;
    onboardingMs?: number;
    /** Serve Prometheus series at http://HOST:PORT/metrics (host: loopback unless given). */
    metrics?: { port: number; host?: string };
    /** For tests: how the scheduler's push tasks behave (default DEFAULT_PUSH_TASK_OPTIONS). */
    pushTasks?: Partial<PushTaskOptions>;
  } = {},
): Promise<RunningGds> {
  const clock = options.clock ?? systemClock;
  const logError = options.logError ?? ((m: string) => console.error(m));
  const services = await openServices(config, clock);
  const paths = dataPaths(config.dataDir);
  try {
    const init = await initialize(services, options.env ?? process.env, clock);
    if (options.onboardingMs) await services.onboarding.open("start --onboarding", options.onboardingMs);
    await services.onboarding.refresh();
    // The thread starts while the OPC UA stack loads; services.close() waits for it either way.
    const checkpoints = services.db.checkpointInBackground(logError);
    // Loaded here so that CLI commands that only read data never load the OPC UA stack.
    const { startGdsServer } = await import("./opcua/gds-server.js");
    await checkpoints;
    // prom-client only when /metrics is served: CLI commands share this module.
    const metrics = options.metrics ? new (await import("./metrics/gds-metrics.js")).GdsMetrics(services.fleet) : null;
    const server = await startGdsServer({
      port: config.port,
      host: config.host,
      hostname: config.hostname,
      applicationUri: config.applicationUri,
      productUri: config.productUri,
      applicationName: config.applicationName,
      certificateFile: paths.serverCertificate,
      privateKeyFile: paths.serverPrivateKey,
      serverPkiFolder: paths.serverPki,
      userPkiFolder: paths.userPki,
      strictTrust: config.strictTrust,
      maxSessions: config.maxSessions,
      maxMessageSize: config.maxMessageSize,
      maxChunkCount: config.maxChunkCount,
      maxRejectedCertificates: config.maxRejectedCertificates,
      catchUpTrust: () => followTrust(),
      loginGuard: new LoginGuard(config.loginThrottle, clock, services.audit),
      directory: services.directory,
      certificates: services.certificates,
      onboarding: services.onboarding,
      users: services.users,
      audit: services.audit,
      logError,
      observeCall: metrics ? (method, status) => metrics.observeCall(method, status) : undefined,
    });
    let metricsServer: MetricsServer | null = null;
    if (metrics && options.metrics) {
      try {
        metricsServer = await startMetricsServer(metrics, options.metrics.port, options.metrics.host);
      } catch (e) {
        await server.stop();
        throw new GdsError("Configuration", `cannot serve metrics on ${options.metrics.host ?? "127.0.0.1"}:${options.metrics.port}: ${(e as Error).message}`);
      }
    }
    let seenCrls = await services.certificates.crlVersion();
    let seenOwnCertificate = await fileIdentity(paths.serverCertificate);
    const presentOwnCertificate = async () => {
      seenOwnCertificate = await fileIdentity(paths.serverCertificate);
      server.presentOwnCertificate();
    };
    services.certificates.onCrlChanged(async () => {
      await server.reloadTrust();
    });
    /** A revocation, `ca renew` or a retirement made by the CLI or another instance, and the GDS's own certificate moved by one. */
    const followTrust = async () => {
      const crls = await services.certificates.crlVersion();
      if (crls !== seenCrls) {
        seenCrls = crls;
        await services.certificates.publishAllCrls();
        await server.reloadTrust();
      }
      const own = await fileIdentity(paths.serverCertificate);
      if (own !== seenOwnCertificate) await presentOwnCertificate();
    };
    services.rollover.onChange({ retired: () => server.reloadTrust(), ownCertificateRenewed: presentOwnCertificate });
    /** What the timers below started and has not finished: stop waits for it before the database closes. */
    const timerWork = new Set<Promise<unknown>>();
    const onTimer = (work: Promise<unknown>, failure: string) => {
      const tracked = work.catch((e: Error) => logError(`${failure}: ${e.message}`)).finally(() => timerWork.delete(tracked));
      timerWork.add(tracked);
    };
    const crlTimer = setInterval(() => {
      onTimer(
        services.certificates
          .refreshCrls()
          // Without the lifecycle scheduler (OPCUA_GDS_SCHEDULER_INTERVAL=off), the rollover check runs here.
          .then(() => (config.schedulerIntervalMs === null ? services.rollover.checkRollover(clock.nowMs()) : undefined)),
        "CRL refresh or CA rollover check failed",
      );
    }, CRL_CHECK_INTERVAL_MS);
    crlTimer.unref();
    const followTimer = setInterval(() => {
      // Keeps the onboarding state the channel check reads current (a window opened by the CLI).
      onTimer(services.onboarding.refresh(), "onboarding refresh failed");
      onTimer(followTrust(), "CRL follow-up failed");
    }, CRL_FOLLOW_INTERVAL_MS);
    followTimer.unref();
    let scheduler: LifecycleScheduler | null = null;
    if (config.schedulerIntervalMs !== null) {
      const instanceId = services.push.instanceId;
      scheduler = new LifecycleScheduler({
        clock,
        intervalMs: config.schedulerIntervalMs,
        leadership: leadershipFor(services.db),
        logError,
        onLeadershipChange: (acting) =>
          services.audit.append({ actor: SCHEDULER_ACTOR, action: acting ? "SchedulerActing" : "SchedulerStoppedActing", subject: instanceId, outcome: "Good" }),
      });
      for (const task of lifecycleTasks(services, config.schedulerIntervalMs, { ...DEFAULT_PUSH_TASK_OPTIONS, ...scheduledPushOptions(config), ...options.pushTasks })) scheduler.register(task);
      scheduler.start();
    }
    return {
      endpointUrl: server.endpointUrl,
      scheduler,
      metricsUrl: metricsServer?.url ?? null,
      services,
      init,
      stop: async () => {
        // First: running pushes are released as resumable jobs while the database is still open.
        await scheduler?.stop();
        clearInterval(crlTimer);
        clearInterval(followTimer);
        await metricsServer?.stop();
        await server.stop();
        await Promise.all(timerWork);
        await services.close();
      },
    };
  } catch (e) {
    await services.close();
    throw e;
  }
}
