import type { Command } from "commander";
import { startGds } from "../../app";
import { resolveConfig } from "../../config/config";
import { parseDurationMs } from "../../domain/duration";
import { invalidArgument } from "../../domain/errors";
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
  metricsPort?: string;
  metricsHost?: string;
  renewal?: string;
}

function parseMetricsPort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidArgument(`--metrics-port "${value}" is not a TCP port (0 to 65535)`);
  return port;
}

/** `opcua-gds start`: serves the GDS until SIGTERM or SIGINT. */
export function registerStart(program: Command): void {
  withDataOptions(program.command("start").description("start the GDS (creates the data folder on first start)"))
    .option("--port <port>", "TCP port (default 58810)")
    .option("--host <host>", "address to listen on and to put in endpoint URLs (default: all interfaces, this machine's name)")
    .option("--strict-trust", "refuse secure channels from clients whose certificate is not trusted")
    .option("--onboarding <duration>", "open an onboarding window at start, e.g. 2h: unknown devices may enrol themselves (requests wait for approval)")
    .option("--approval <mode>", "auto (default): requests of CA admins and self-renewals are issued at once; manual: every request waits for approval")
    .option("--metrics-port <port>", "serve Prometheus series at http://127.0.0.1:PORT/metrics (env OPCUA_GDS_METRICS_PORT)")
    .option("--renewal <policy>", "when certificates are due for renewal, per group: GROUP=66% or GROUP=30d, comma-separated (env OPCUA_GDS_RENEWAL; default 2/3 of the lifetime)")
    .option("--metrics-host <address>", "address of the metrics endpoint (default 127.0.0.1; 0.0.0.0 for every interface)")
    .action(async (options: StartOptions) => {
      const config = resolveConfig({ data: options.data, db: options.db, port: options.port, host: options.host, strictTrust: options.strictTrust, approval: options.approval, renewal: options.renewal });
      const metricsPort = parseMetricsPort(options.metricsPort ?? (process.env.OPCUA_GDS_METRICS_PORT || undefined));
      const gds = await startGds(config, {
        onboardingMs: options.onboarding ? parseDurationMs(options.onboarding) : undefined,
        metrics: metricsPort === undefined ? undefined : { port: metricsPort, host: options.metricsHost },
      });
      const admin = gds.init.admin;
      if (admin?.generated) say(`initial administrator: ${admin.name}  password: ${admin.password}  (shown once)`);
      say(`opcua-gds listening on ${gds.endpointUrl} (data: ${config.dataDir})`);
      if (gds.metricsUrl) say(`metrics at ${gds.metricsUrl}`);

      await runUntilSignal("opcua-gds", () => gds.stop());
      say("stopped");
    });
}
