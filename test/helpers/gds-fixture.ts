import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startGds, type RunningGds } from "../../src/app";
import { resolveConfig } from "../../src/config/config";
import { createTestDatabase, type Backend, type TestDatabase } from "./databases";

/** Password of the initial `admin` in test instances. */
export const ADMIN_PASSWORD = "admin-test-password";

/** A GDS started for a test: port 0 on 127.0.0.1, a fresh data folder and database. */
export interface TestGds {
  gds: RunningGds;
  endpointUrl: string;
  dataDir: string;
  database: TestDatabase;
  caCertificateFile: string;
  caCrlFile: string;
  /** Stops the server; with `keepData` the folder and database stay for a restart. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/** Makes a temporary folder that the caller removes. */
export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `opcua-gds-${prefix}-`));
}

/** Starts a GDS on `backend`; pass `reuse` to start again on the folder and database of a stopped one. */
export async function startTestGds(
  backend: Backend,
  reuse?: { dataDir: string; database: TestDatabase },
  flags: { approval?: string; strictTrust?: boolean; metrics?: boolean; env?: Record<string, string> } = {},
): Promise<TestGds> {
  const dataDir = reuse?.dataDir ?? (await tempDir("data"));
  const database = reuse?.database ?? (await createTestDatabase(backend));
  const { metrics, env, ...configFlags } = flags;
  const config = resolveConfig({ data: dataDir, db: database.url, port: 0, host: "127.0.0.1", ...configFlags }, env ?? {});
  const errors: string[] = [];
  const gds = await startGds(config, {
    env: { OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD },
    logError: (m) => errors.push(m),
    metrics: metrics ? { port: 0, host: "127.0.0.1" } : undefined,
  });
  const caFolder = path.join(dataDir, "ca", "DefaultApplicationGroup", "RsaSha256ApplicationCertificateType");
  return {
    gds,
    endpointUrl: gds.endpointUrl,
    dataDir,
    database,
    caCertificateFile: path.join(caFolder, "ca.cert.pem"),
    caCrlFile: path.join(caFolder, "ca.crl.pem"),
    async stop(options = {}) {
      await gds.stop();
      if (errors.length) process.stderr.write(`server errors during the test:\n${errors.join("\n")}\n`);
      if (!options.keepData) {
        await database.drop();
        await fs.rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}
