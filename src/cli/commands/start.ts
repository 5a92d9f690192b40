import type { Command } from "commander";
import { startGds } from "../../app";
import { resolveConfig } from "../../config/config";
import { parseDurationMs } from "../../domain/duration";
import { say } from "../output";
import { runUntilSignal } from "../run-until-signal";
import { withDataOptions } from "./common";

interface StartOptions {
  data?: string;
  db?: string;
  port?: string;
  host?: string;
  strictTrust?: boolean;
  approval?: string;
  onboarding?: string;
}

/** `opcua-gds start`: serves the GDS until SIGTERM or SIGINT. */
export function registerStart(program: Command): void {
  withDataOptions(program.command("start").description("start the GDS (creates the data folder on first start)"))
    .option("--port <port>", "TCP port (default 58810)")
    .option("--host <host>", "address to listen on and to put in endpoint URLs (default: all interfaces, this machine's name)")
    .option("--strict-trust", "refuse secure channels from clients whose certificate is not trusted")
    .option("--onboarding <duration>", "open an onboarding window at start, e.g. 2h: unknown devices may enrol themselves (requests wait for approval)")
    .option("--approval <mode>", "auto (default): requests of CA admins and self-renewals are issued at once; manual: every request waits for approval")
    .action(async (options: StartOptions) => {
      const config = resolveConfig({ data: options.data, db: options.db, port: options.port, host: options.host, strictTrust: options.strictTrust, approval: options.approval });
      const gds = await startGds(config, { onboardingMs: options.onboarding ? parseDurationMs(options.onboarding) : undefined });
      const admin = gds.init.admin;
      if (admin?.generated) say(`initial administrator: ${admin.name}  password: ${admin.password}  (shown once)`);
      say(`opcua-gds listening on ${gds.endpointUrl} (data: ${config.dataDir})`);

      await runUntilSignal("opcua-gds", () => gds.stop());
      say("stopped");
    });
}
