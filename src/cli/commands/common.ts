import fs from "node:fs";
import os from "node:os";
import type { Command } from "commander";
import { openServices, type GdsServices } from "../../app";
import { resolveConfig } from "../../config/config";
import { dataPaths } from "../../config/data-folder";
import { GdsError } from "../../domain/errors";

/** Options every data command takes. */
export interface DataOptions {
  data?: string;
  db?: string;
  json?: boolean;
}

/** Adds --data and --db to a command. */
export function withDataOptions(command: Command): Command {
  return command
    .option("--data <dir>", "data folder (database, CA, keys)", undefined)
    .option("--db <url>", "postgres:// URL of a shared database (default: SQLite in the data folder; env OPCUA_GDS_DB)");
}

/** Opens the services of the data folder, runs `work`, and closes them whatever happens. */
export async function withServices<T>(options: DataOptions, work: (services: GdsServices) => Promise<T>): Promise<T> {
  const config = resolveConfig({ data: options.data, db: options.db });
  if (!config.databaseUrl && !fs.existsSync(dataPaths(config.dataDir).sqlite)) {
    throw new GdsError("Configuration", `no GDS data in ${config.dataDir}: run \`opcua-gds init --data ${config.dataDir}\` first, or give --data`);
  }
  const services = await openServices(config);
  try {
    return await work(services);
  } finally {
    await services.close();
  }
}

/** The actor named in audit records for CLI actions: the operating-system user. */
export function cliActor(): string {
  let name = process.env.USER ?? process.env.USERNAME;
  if (!name) {
    try {
      name = os.userInfo().username;
    } catch {
      name = "unknown";
    }
  }
  return `cli:${name}`;
}
