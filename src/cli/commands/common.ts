import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import type { Command } from "commander";
import { openServices, type GdsServices } from "../../app";
import { resolveConfig } from "../../config/config";
import { dataPaths } from "../../config/data-folder";
import { GdsError, invalidArgument } from "../../domain/errors";

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

/** Reads a certificate file, PEM (the first certificate) or DER. */
export async function readCertificateFile(file: string): Promise<Buffer> {
  const content = await fsp.readFile(file).catch(() => {
    throw invalidArgument(`cannot read certificate file ${file}`);
  });
  const text = content.toString("latin1");
  const pem = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(text);
  return pem ? Buffer.from(pem[1].replace(/\s+/g, ""), "base64") : content;
}

/** Parses an integer option within bounds, or says which option is wrong. */
export function integerOption(value: string | undefined, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw invalidArgument(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}
