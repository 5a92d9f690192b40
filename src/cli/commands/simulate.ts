import type { Command } from "commander";
import { invalidArgument } from "../../domain/errors";
import type { SimulatedFleet } from "../../simulator";
import { enterJsonMode, printJson, readStdin, say } from "../output";
import { runUntilSignal } from "../run-until-signal";
import { readCertificateFile } from "./common";

interface SimulateOptions {
  count?: string;
  basePort?: string;
  data?: string;
  user?: string;
  passwordStdin?: boolean;
  refuseCertificate?: string;
  noKeyGeneration?: string;
  userCertificate?: string[];
  json?: boolean;
}

function positiveInteger(text: string | undefined, name: string): number {
  const n = Number(text);
  if (!text || !Number.isInteger(n) || n < 1) throw invalidArgument(`${name} must be a positive integer, got ${JSON.stringify(text ?? "")}`);
  return n;
}

/** "1,4,7" as device indexes below `count`. */
function indexList(text: string | undefined, name: string, count: number): number[] {
  if (!text) return [];
  return text.split(",").map((part) => {
    const n = Number(part.trim());
    if (part.trim() === "" || !Number.isInteger(n) || n < 0 || n >= count) throw invalidArgument(`${name} takes device indexes from 0 to ${count - 1}, separated by commas; got ${JSON.stringify(part)}`);
    return n;
  });
}

/** How long freeing the devices may take after they left the network; the process exits anyway. */
const FREE_BUDGET_MS = 3_000;

/**
 * Takes every device off the network (listeners closed, channels dropped, writes finished), then
 * frees them for at most FREE_BUDGET_MS: a hundred address spaces take seconds of CPU on two busy
 * cores, and the process exits right after, which frees them too.
 */
async function leave(fleet: SimulatedFleet): Promise<void> {
  await fleet.close();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([fleet.stop(), new Promise<void>((resolve) => (timer = setTimeout(resolve, FREE_BUDGET_MS)))]);
  clearTimeout(timer);
}

/** `opcua-gds simulate`: runs N push-capable OPC UA servers on 127.0.0.1 until SIGTERM or SIGINT. */
export function registerSimulate(program: Command): void {
  program
    .command("simulate")
    .description("run simulated push-capable OPC UA devices on 127.0.0.1 (for tests, demos and benchmarks); prints one line per device, then `ready`")
    .option("--count <n>", "number of devices")
    .option("--base-port <port>", "device i listens on base-port + i")
    .option("--data <dir>", "folder for the devices' certificates, keys and trust lists (kept between runs)")
    .option("--user <name>", "the devices' SecurityAdmin user (default admin)")
    .option("--password-stdin", "read the user's password from standard input (otherwise env OPCUA_GDS_SIM_PASSWORD)")
    .option("--refuse-certificate <indexes>", "devices that refuse UpdateCertificate with BadCertificateInvalid, e.g. 3,7")
    .option("--no-key-generation <indexes>", "devices that cannot make keys (CreateSigningRequest with a new key: BadNotSupported), e.g. 4")
    .option("--user-certificate <file>", "an X509 user certificate (PEM or DER) the devices accept as a SecurityAdmin user, named by its CN; repeatable", (file: string, files: string[] = []) => [...files, file])
    .option("--json", "print the devices as one JSON document (then `ready`)")
    .action(async (options: SimulateOptions & { keyGeneration?: string | boolean }) => {
      // node-opcua writes warnings with console.log: stdout carries only the device list and `ready`.
      enterJsonMode();
      const count = positiveInteger(options.count, "--count");
      const basePort = positiveInteger(options.basePort, "--base-port");
      if (!options.data) throw invalidArgument("--data DIR is needed: the devices keep their certificates and keys there");
      const password = options.passwordStdin ? await readStdin() : process.env.OPCUA_GDS_SIM_PASSWORD;
      if (!password) throw invalidArgument("give the devices' password with --password-stdin or the environment variable OPCUA_GDS_SIM_PASSWORD");
      const behaviours: Record<number, "refuse-certificate" | "no-key-generation"> = {};
      for (const i of indexList(options.refuseCertificate, "--refuse-certificate", count)) behaviours[i] = "refuse-certificate";
      // commander reads --no-key-generation <x> as the negation of --key-generation, with the value in keyGeneration.
      const noKeys = typeof options.keyGeneration === "string" ? options.keyGeneration : options.noKeyGeneration;
      for (const i of indexList(noKeys, "--no-key-generation", count)) {
        if (behaviours[i]) throw invalidArgument(`device ${i} cannot both refuse certificates and lack key generation`);
        behaviours[i] = "no-key-generation";
      }
      const userCertificates = await Promise.all((options.userCertificate ?? []).map((file) => readCertificateFile(file)));
      // Loaded here so that the other commands never load the OPC UA stack.
      const { startSimulatedFleet } = await import("../../simulator/index.js");
      const fleet = await startSimulatedFleet({ count, basePort, dataFolder: options.data, user: options.user, password, behaviours, userCertificates });
      const rows = fleet.devices.map((d) => ({ ...d, behaviour: behaviours[d.index] ?? "normal" }));
      if (options.json) printJson(rows);
      else for (const d of rows) say(`device ${d.index}  ${d.endpointUrl}  ${d.applicationUri}  ${d.behaviour}`);
      say("ready");
      await runUntilSignal("opcua-gds simulate", () => leave(fleet));
      say("stopped");
    });
}
