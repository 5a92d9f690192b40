import type { Command } from "commander";
import type { CertificateRequestRecord } from "../../domain/certificate-request";
import { formatApplicationId } from "../../domain/application-id";
import { invalidArgument } from "../../domain/errors";
import { isGuid } from "../../domain/application-id";
import { printJson, say } from "../output";
import { cliActor, withDataOptions, withServices, type DataOptions } from "./common";

/** Accepts a RequestId as printed (`ns=1;g=GUID`) or as a bare GUID. */
export function parseRequestId(text: string): string {
  const guid = text.trim().replace(/^ns=\d+;/, "").replace(/^g=/, "");
  if (!isGuid(guid)) throw invalidArgument(`"${text.slice(0, 60)}" is not a RequestId (a GUID, as \`request list\` prints it)`);
  return guid.toLowerCase();
}

function requestJson(r: CertificateRequestRecord) {
  return {
    requestId: r.requestId,
    applicationId: formatApplicationId(r.applicationId),
    group: r.groupName,
    certificateType: r.certificateTypeName,
    kind: r.kind,
    state: r.state,
    requestedBy: r.requestedBy,
    createdAt: new Date(r.createdAtMs).toISOString(),
    decidedBy: r.decidedBy,
    decidedAt: r.decidedAtMs ? new Date(r.decidedAtMs).toISOString() : null,
    rejectReason: r.rejectReason,
    serial: r.serialHex,
    subjectName: r.subjectName,
    domainNames: r.domainNames,
  };
}

interface ListOptions extends DataOptions {
  pending?: boolean;
}

interface ApproveOptions extends DataOptions {
  all?: boolean;
  filter?: string;
}

/** `opcua-gds request list|approve|reject`: the RegistrationAuthorityAdmin's desk. */
export function registerRequest(program: Command): void {
  const request = program.command("request").description("certificate requests and their approval");

  withDataOptions(request.command("list").description("list certificate requests"))
    .option("--pending", "only requests that wait for a decision")
    .option("--json", "print as JSON")
    .action(async (options: ListOptions) => {
      const rows = await withServices(options, (s) => s.certificates.listRequests(options.pending ? { state: "New" } : {}));
      if (options.json) return printJson(rows.map(requestJson));
      if (rows.length === 0) return say(options.pending ? "no pending requests" : "no requests");
      for (const r of rows) say(`${r.requestId}\t${r.state}\t${r.kind}\t${formatApplicationId(r.applicationId)}\t${r.requestedBy}\t${new Date(r.createdAtMs).toISOString()}`);
    });

  withDataOptions(request.command("approve [id]").description("approve a pending request (or --all, optionally --filter 'urn:plant1:%')"))
    .option("--all", "approve every pending request")
    .option("--filter <pattern>", "with --all: only applications whose ApplicationUri matches this pattern (% any run, _ one character)")
    .option("--json", "print the result as JSON")
    .action(async (id: string | undefined, options: ApproveOptions) => {
      if (!id && !options.all) throw invalidArgument("name a RequestId, or give --all");
      if (id && options.all) throw invalidArgument("give a RequestId or --all, not both");
      if (options.filter && !options.all) throw invalidArgument("--filter goes with --all");
      const results = await withServices(options, async (s) => {
        if (id) {
          const row = await s.certificates.approveRequest(cliActor(), parseRequestId(id));
          return [{ requestId: row.requestId ?? id, applicationUri: row.applicationUri, serialHex: row.serialHex }];
        }
        return s.certificates.approvePending(cliActor(), { uriPattern: options.filter });
      });
      if (options.json) return printJson(results);
      if (results.length === 0) say("no pending requests matched");
      for (const r of results) say(r.error ? `${r.requestId}\tFAILED\t${r.applicationUri}\t${r.error}` : `${r.requestId}\tapproved\t${r.applicationUri}\tserial ${r.serialHex}`);
      if (results.some((r) => r.error)) process.exitCode = 1;
    });

  withDataOptions(request.command("reject <id>").description("reject a pending request"))
    .option("--reason <text>", "why (shown to nobody but the audit trail and `request list`)")
    .option("--json", "print the result as JSON")
    .action(async (id: string, options: DataOptions & { reason?: string }) => {
      const requestId = parseRequestId(id);
      await withServices(options, (s) => s.certificates.rejectRequest(cliActor(), requestId, options.reason ?? null));
      if (options.json) return printJson({ rejected: requestId });
      say(`request ${requestId} rejected`);
    });
}
