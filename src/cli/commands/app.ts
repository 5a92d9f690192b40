import type { Command } from "commander";
import { ApplicationType, type ApplicationRecord } from "../../domain/application";
import { formatApplicationId, parseApplicationId } from "../../domain/application-id";
import { printJson, say } from "../output";
import { cliActor, integerOption, withDataOptions, withServices, type DataOptions } from "./common";

/** The JSON shape of a record: the ApplicationId in its NodeId string form. */
function recordJson(r: ApplicationRecord) {
  return {
    applicationId: formatApplicationId(r.applicationId),
    applicationUri: r.applicationUri,
    applicationType: ApplicationType[r.applicationType],
    applicationNames: r.applicationNames,
    productUri: r.productUri,
    discoveryUrls: r.discoveryUrls,
    serverCapabilities: r.serverCapabilities,
    recordId: r.recordId,
    createdAt: new Date(r.createdAtMs).toISOString(),
    updatedAt: new Date(r.updatedAtMs).toISOString(),
  };
}

/** `opcua-gds app list|show|unregister`. */
export function registerApp(program: Command): void {
  const app = program.command("app").description("registered applications");

  withDataOptions(app.command("list").description("list registered applications"))
    .option("--json", "print as JSON")
    .action(async (options: DataOptions) => {
      const records = await withServices(options, (s) => s.directory.listApplications());
      if (options.json) return printJson(records.map(recordJson));
      if (records.length === 0) return say("no applications registered");
      for (const r of records) say(`${formatApplicationId(r.applicationId)}\t${ApplicationType[r.applicationType]}\t${r.applicationUri}\t${r.applicationNames[0]?.text ?? ""}`);
    });

  withDataOptions(app.command("show <id>").description("show one application (ID: ns=1;g=<GUID>)"))
    .option("--json", "print as JSON")
    .action(async (id: string, options: DataOptions) => {
      const guid = parseApplicationId(id);
      const record = await withServices(options, (s) => s.directory.getApplication(guid));
      const json = recordJson(record);
      if (options.json) return printJson(json);
      for (const [key, value] of Object.entries(json)) say(`${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
    });

  withDataOptions(app.command("approve <id>").description("approve every pending certificate request of an application"))
    .option("--json", "print the result as JSON")
    .action(async (id: string, options: DataOptions) => {
      const guid = parseApplicationId(id);
      const results = await withServices(options, async (s) => {
        await s.directory.getApplication(guid);
        return s.certificates.approvePending(cliActor(), { applicationId: guid });
      });
      if (options.json) return printJson(results);
      if (results.length === 0) say("no pending requests for this application");
      for (const r of results) say(r.error ? `${r.requestId}	FAILED	${r.error}` : `${r.requestId}	approved	serial ${r.serialHex}`);
      if (results.some((r) => r.error)) process.exitCode = 1;
    });

  withDataOptions(app.command("trust <id>").description("connect to a server, show the certificate it presents, and pin it for pushes (first contact)"))
    .option("--expect <thumbprint>", "pin only if the device presents this SHA-1 thumbprint (checked on the device itself)")
    .option("--timeout <seconds>", "longest wait for the device (default 30)")
    .option("--json", "print the result as JSON")
    .action(async (id: string, options: DataOptions & { expect?: string; timeout?: string }) => {
      const guid = parseApplicationId(id);
      const timeoutMs = integerOption(options.timeout, "--timeout", 1, 3600, 30) * 1000;
      const result = await withServices(options, (s) => s.push.devices.trustDevice(cliActor(), guid, { timeoutMs, expectThumbprint: options.expect }));
      if (options.json) return printJson({ applicationId: formatApplicationId(guid), ...result });
      const c = result.certificate;
      say(`${result.endpointUrl} presents:`);
      say(`  thumbprint (SHA-1): ${c.thumbprint}`);
      say(`  subject:            ${c.subject}`);
      say(`  issuer:             ${c.selfSigned ? "(self-signed)" : c.issuer}`);
      say(`  application URI:    ${c.applicationUri ?? "(none)"}`);
      say(`  valid:              ${c.notBefore} to ${c.notAfter}`);
      if (result.issuedByGds) say("  this is the certificate the GDS issued to this application");
      say(`pinned: pushes to this application accept this certificate (compare the thumbprint with the one the device shows)`);
    });

  withDataOptions(app.command("unregister <id>").description("unregister an application (ID: ns=1;g=<GUID>)"))
    .option("--json", "print the result as JSON")
    .action(async (id: string, options: DataOptions) => {
      const guid = parseApplicationId(id);
      const removed = await withServices(options, (s) => s.directory.unregisterApplication(cliActor(), guid));
      if (options.json) return printJson({ unregistered: recordJson(removed) });
      say(`unregistered ${formatApplicationId(removed.applicationId)} (${removed.applicationUri})`);
    });
}
