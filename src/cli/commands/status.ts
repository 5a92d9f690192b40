import type { Command } from "commander";
import { printJson, say } from "../output";
import { withDataOptions, withServices, type DataOptions } from "./common";

/** `opcua-gds status`: one screen that says whether the fleet is healthy. */
export function registerStatus(program: Command): void {
  withDataOptions(program.command("status").description("fleet summary: applications, certificates by state, expiring soon, pending requests, CRLs, trust-list distribution and drift"))
    .option("--json", "print as JSON")
    .action(async (options: DataOptions) => {
      const status = await withServices(options, (s) => s.fleet.status());
      if (options.json) return printJson(status);
      const c = status.certificates;
      say(`applications            ${status.applications}`);
      say(`certificates            ${c.valid} valid, ${c.renewalDue} due for renewal, ${c.expired} expired, ${c.revoked} revoked`);
      say(`expiring within ${status.expiringWindowDays} days ${status.expiringSoon}${status.expiringSoon > 0 ? "  (opcua-gds cert list --expiring 30d)" : ""}`);
      say(`pending requests        ${status.pendingRequests}${status.pendingRequests > 0 ? "  (opcua-gds request list --pending)" : ""}`);
      const p = status.pushes;
      say(`pushes                  ${p.succeeded} succeeded, ${p.failed} failed, ${p.active} queued or running; ${p.failingDevices} device(s) whose last push failed${p.failingDevices > 0 ? "  (opcua-gds push jobs)" : ""}`);
      for (const crl of status.crls) say(`CRL ${crl.ca}  number ${crl.crlNumber}, next update ${crl.nextUpdate}`);
      for (const g of status.trustLists) {
        const excluded = g.excluded > 0 ? `; ${g.excluded} left out (revoked certificate or no endpoint)` : "";
        say(`trust list ${g.group}  current on ${g.current} of ${g.servers} push-managed servers${excluded}`);
        const d = g.drift;
        const hint = d.drifted + d.unreachable > 0 ? "  (opcua-gds push drift)" : "";
        say(`drift ${g.group}  ${d.inSync} in sync, ${d.drifted} drifted, ${d.unreachable} unreachable, ${d.unchecked} not checked since the last push${hint}`);
      }
    });
}
