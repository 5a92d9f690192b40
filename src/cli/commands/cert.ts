import type { Command } from "commander";
import { formatApplicationId, parseApplicationId } from "../../domain/application-id";
import { parseDurationMs } from "../../domain/duration";
import { GdsError, invalidArgument } from "../../domain/errors";
import type { IssuedCertificateRow } from "../../services/ports";
import { printJson, say } from "../output";
import { cliActor, withDataOptions, withServices, type DataOptions } from "./common";

function state(r: IssuedCertificateRow, now: number): string {
  if (r.revokedAtMs !== null) return "revoked";
  if (r.notAfterMs <= now) return "expired";
  if (r.renewalAtMs <= now) return "renewal-due";
  return "valid";
}

function certificateJson(r: IssuedCertificateRow, now: number) {
  return {
    serial: r.serialHex,
    thumbprint: r.thumbprint,
    applicationId: formatApplicationId(r.applicationId),
    applicationUri: r.applicationUri,
    group: r.groupName,
    certificateType: r.certificateTypeName,
    state: state(r, now),
    notBefore: new Date(r.notBeforeMs).toISOString(),
    notAfter: new Date(r.notAfterMs).toISOString(),
    renewalAt: new Date(r.renewalAtMs).toISOString(),
    revokedAt: r.revokedAtMs ? new Date(r.revokedAtMs).toISOString() : null,
    revocationReason: r.revocationReason,
  };
}

/** `opcua-gds cert list|revoke`. */
export function registerCert(program: Command): void {
  const cert = program.command("cert").description("certificates issued by the GDS");

  withDataOptions(cert.command("list").description("list issued certificates"))
    .option("--expiring <duration>", "only those that expire within this time, e.g. 30d")
    .option("--app <id>", "only those of one application")
    .option("--json", "print as JSON")
    .action(async (options: DataOptions & { expiring?: string; app?: string }) => {
      const now = Date.now();
      const rows = await withServices(options, (s) =>
        s.certificates.listCertificates({
          applicationId: options.app ? parseApplicationId(options.app) : undefined,
          expiringBeforeMs: options.expiring ? now + parseDurationMs(options.expiring) : undefined,
        }),
      );
      const shown = options.expiring ? rows.filter((r) => r.revokedAtMs === null && r.notAfterMs > now) : rows;
      if (options.json) return printJson(shown.map((r) => certificateJson(r, now)));
      if (shown.length === 0) return say("no certificates");
      for (const r of shown) say(`${r.serialHex}\t${state(r, now)}\t${new Date(r.notAfterMs).toISOString()}\t${r.applicationUri}`);
    });

  withDataOptions(cert.command("revoke [serial]").description("revoke a certificate by serial, or every certificate of an application (--app)"))
    .option("--app <id>", "revoke every certificate of this application")
    .option("--reason <text>", "reason kept with the revocation", "revoked by operator")
    .option("--json", "print the result as JSON")
    .action(async (serial: string | undefined, options: DataOptions & { app?: string; reason: string }) => {
      if (!serial && !options.app) throw invalidArgument("name a serial number, or give --app APPLICATION_ID");
      if (serial && options.app) throw invalidArgument("give a serial or --app, not both");
      const now = Date.now();
      const revoked = await withServices(options, async (s) => {
        if (options.app) return s.certificates.revokeApplication(cliActor(), parseApplicationId(options.app), options.reason);
        const normalized = serial!.replace(/:/g, "").toLowerCase();
        if (!/^[0-9a-f]{1,64}$/.test(normalized)) throw invalidArgument(`"${serial}" is not a serial number (hex, as \`cert list\` prints it)`);
        const rows = await s.certificates.revokeSerials(cliActor(), [normalized], options.reason);
        if (rows.length === 0) throw new GdsError("NotFound", `no unrevoked certificate with serial ${normalized}`);
        return rows;
      });
      if (options.json) return printJson(revoked.map((r) => certificateJson(r, now)));
      if (revoked.length === 0) return say("nothing to revoke");
      for (const r of revoked) say(`revoked ${r.serialHex} (${r.applicationUri}); a new CRL is published`);
    });
}
