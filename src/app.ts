import "reflect-metadata";
import { ensureGdsIdentity } from "./ca/gds-identity";
import type { GdsConfig } from "./config/config";
import { dataPaths } from "./config/data-folder";
import { systemClock, type Clock } from "./domain/clock";
import type { Role } from "./domain/roles";
import { ROLES } from "./domain/roles";
import { DirectoryService } from "./services/directory-service";
import { generatePassword } from "./services/password";
import { UserService } from "./services/user-service";
import { ApplicationRepository } from "./store/application-repository";
import { AuditRepository } from "./store/audit-repository";
import { openDatabase, type Database } from "./store/database";
import { UserRepository } from "./store/user-repository";

/** The services of one GDS instance over its database. */
export interface GdsServices {
  config: GdsConfig;
  db: Database;
  directory: DirectoryService;
  users: UserService;
  audit: AuditRepository;
  close(): Promise<void>;
}

/** Opens the database of `config` and builds the services on it (what CLI commands need). */
export async function openServices(config: GdsConfig, clock: Clock = systemClock): Promise<GdsServices> {
  const paths = dataPaths(config.dataDir);
  const db = await openDatabase({ url: config.databaseUrl, sqlitePath: paths.sqlite });
  const users = new UserService(new UserRepository(db, clock), clock);
  return {
    config,
    db,
    directory: new DirectoryService(new ApplicationRepository(db, clock), clock),
    users,
    audit: new AuditRepository(db, clock),
    close: () => db.close(),
  };
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

/** Creates or completes the data folder: database, CA, the GDS's certificate, first admin. Idempotent. */
export async function initDataFolder(config: GdsConfig, clock: Clock = systemClock, env: NodeJS.ProcessEnv = process.env): Promise<InitReport> {
  const paths = dataPaths(config.dataDir);
  const identity = await ensureGdsIdentity(config, paths, clock);
  const services = await openServices(config, clock);
  try {
    const admin = await ensureInitialAdmin(services.users, env.OPCUA_GDS_ADMIN_PASSWORD);
    return { dataDir: config.dataDir, createdServerCertificate: identity.createdServerCertificate, caCertificateFile: paths.caFolder() + "/ca.cert.pem", admin };
  } finally {
    await services.close();
  }
}

/** A running GDS: its endpoint and a stop that closes server and database. */
export interface RunningGds {
  endpointUrl: string;
  services: GdsServices;
  init: InitReport;
  stop(): Promise<void>;
}

/** init + services + OPC UA server, in that order. */
export async function startGds(config: GdsConfig, options: { clock?: Clock; env?: NodeJS.ProcessEnv; logError?: (m: string) => void } = {}): Promise<RunningGds> {
  const clock = options.clock ?? systemClock;
  const init = await initDataFolder(config, clock, options.env ?? process.env);
  const services = await openServices(config, clock);
  const paths = dataPaths(config.dataDir);
  try {
    // Loaded here so that CLI commands that only read data never load the OPC UA stack.
    const { startGdsServer } = await import("./opcua/gds-server.js");
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
      directory: services.directory,
      users: services.users,
      logError: options.logError ?? ((m) => console.error(m)),
    });
    return {
      endpointUrl: server.endpointUrl,
      services,
      init,
      stop: async () => {
        await server.stop();
        await services.close();
      },
    };
  } catch (e) {
    await services.close();
    throw e;
  }
}
