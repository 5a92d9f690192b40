import type { Command } from "commander";
import { describeBackup, restoreBackup, takeBackup } from "../../app";
import { resolveConfig } from "../../config/config";
import { printJson, say } from "../output";
import { cliActor, withDataOptions, type DataOptions } from "./common";

interface BackupOptions extends DataOptions {
  force?: boolean;
}

interface RestoreOptions extends BackupOptions {
  check?: boolean;
}

function rowsLine(rows: Record<string, number>): string {
  return Object.entries(rows)
    .map(([table, n]) => `${table} ${n}`)
    .join(", ");
}

/** `opcua-gds backup FILE` and `opcua-gds restore FILE`. */
export function registerBackup(program: Command): void {
  withDataOptions(program.command("backup <file>").description("write the database and the data folder (CA keys as stored) to FILE as one consistent snapshot; works while the GDS runs"))
    .option("--force", "replace FILE if it exists")
    .option("--json", "print the result as JSON")
    .action(async (file: string, options: BackupOptions) => {
      const report = await takeBackup(resolveConfig({ data: options.data, db: options.db }), file, { force: options.force });
      if (options.json) return printJson(report);
      say(`backup written: ${report.file} (${report.bytes} bytes, mode 0600, sha256 ${report.sha256})`);
      say(`  snapshot of ${report.createdAt} (${report.database}): ${rowsLine(report.rows)}; ${report.files} files`);
      say("  it holds the CA keys as they are stored (encrypted only when OPCUA_GDS_CA_PASSPHRASE is set): keep it as safe as the keys");
    });

  withDataOptions(program.command("restore <file>").description("restore a backup into an empty data folder and database (stop the GDS first)"))
    .option("--force", "replace a data folder or database that is not empty")
    .option("--check", "only verify the file (format, checksum, every record) and say what it holds")
    .option("--json", "print the result as JSON")
    .action(async (file: string, options: RestoreOptions) => {
      if (options.check) {
        const d = await describeBackup(file);
        if (options.json) return printJson(d);
        say(`${d.file} is a whole opcua-gds backup (sha256 ${d.sha256})`);
        say(`  snapshot of ${d.createdAt} (${d.database}): ${rowsLine(d.rows)}; ${d.entries} files and folders`);
        return;
      }
      const r = await restoreBackup(resolveConfig({ data: options.data, db: options.db }), file, { actor: cliActor(), force: options.force });
      if (options.json) return printJson(r);
      say(`restored ${r.file} into ${r.dataDir} (${r.database})`);
      say(`  snapshot of ${r.backupCreatedAt} (${r.backupDatabase}): ${rowsLine(r.rows)}; ${r.files} files`);
      say(`  CRL numbers continue from ${r.crlNumberFloor}: the next start signs new CRLs`);
      say(`  everything done after ${r.backupCreatedAt} is lost: revocations made since then are undone (revoke those certificates again),`);
      say("  certificates issued since then are unknown to the GDS (their holders ask again). See README, Backup and restore.");
    });
}
