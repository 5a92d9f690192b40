import type { Command } from "commander";
import { initDataFolder } from "../../app";
import { resolveConfig } from "../../config/config";
import { printJson, say } from "../output";
import { withDataOptions, type DataOptions } from "./common";

/** `opcua-gds init`: creates the data folder (database, CA, the GDS's certificate, first admin). */
export function registerInit(program: Command): void {
  withDataOptions(program.command("init").description("create the data folder: database, CA and the GDS's own certificate (idempotent)"))
    .option("--json", "print the result as JSON")
    .action(async (options: DataOptions) => {
      const report = await initDataFolder(resolveConfig({ data: options.data, db: options.db }));
      if (options.json) {
        printJson({ dataDir: report.dataDir, caCertificateFile: report.caCertificateFile, admin: report.admin?.name ?? null, generatedPassword: report.admin?.generated ? report.admin.password : null });
        return;
      }
      say(`data folder ready: ${report.dataDir}`);
      say(`CA certificate: ${report.caCertificateFile}`);
      if (report.admin?.generated) say(`initial administrator: ${report.admin.name}  password: ${report.admin.password}  (shown once; change it with user remove/add)`);
      else if (report.admin) say(`initial administrator: ${report.admin.name} (password from OPCUA_GDS_ADMIN_PASSWORD)`);
    });
}
