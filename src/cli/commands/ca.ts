import fs from "node:fs/promises";
import type { Command } from "commander";
import { caAdministration, type CaDescription, type CaInstallReport, type CaKeyStorage, type RenewReport, type RolloverStatus } from "../../app";
import { resolveConfig } from "../../config/config";
import { invalidArgument } from "../../domain/errors";
import { printJson, say } from "../output";
import { cliActor, withServices } from "./common";

interface CaOptions {
  data?: string;
  group?: string;
  json?: boolean;
}

interface CsrOptions extends CaOptions {
  out?: string;
  subject?: string;
}

interface RenewOptions extends CaOptions {
  db?: string;
  csr?: string;
  subject?: string;
  reuseKey?: boolean;
}

interface InstallOptions extends CaOptions {
  db?: string;
  chain?: string;
}

interface ImportOptions extends InstallOptions {
  cert: string;
  key?: string;
  pkcs11Key?: string;
}

const GROUP_HELP = "certificate group: DefaultApplicationGroup (default), DefaultHttpsGroup or DefaultUserTokenGroup";

/** The CA administration of the data folder; the CA passphrase and key size come from the environment. */
function admin(options: CaOptions) {
  return caAdministration(resolveConfig({ data: options.data }));
}

/** Writes a PEM request to `file`, or to stdout (then the notes go to stderr, so that stdout can be piped). */
async function writeRequest(pem: string, file: string | undefined): Promise<(line: string) => void> {
  if (!file) {
    process.stdout.write(pem.endsWith("\n") ? pem : `${pem}\n`);
    return (line: string) => process.stderr.write(`${line}\n`);
  }
  await fs.writeFile(file, pem, { mode: 0o644 }).catch(() => {
    throw invalidArgument(`cannot write ${file}: check the folder exists and is writable`);
  });
  return say;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function printRenewed(r: RenewReport): void {
  say(`renewed the CA of ${r.group}/${r.certificateType} (${r.keyReused ? "same key" : "new key"})`);
  say(`  new CA:        ${r.current.subject} serial ${r.current.serialHex}, valid to ${iso(r.current.notAfterMs)}`);
  say(`  superseded CA: serial ${r.superseded.serialHex}, valid to ${iso(r.superseded.notAfterMs)}: stays in the trust list, with its CRL, until it retires`);
  say("new certificates come from the new CA; holders of old-CA certificates get UpdateRequired and renew as usual");
  say("a running GDS picks the new CA up by itself (no restart)");
}

function printStatus(st: RolloverStatus): void {
  say(`${st.group}/${st.certificateType}`);
  say(`  current CA:    serial ${st.current.serialHex}, valid to ${iso(st.current.notAfterMs)}`);
  for (const p of st.superseded) {
    const holds = [p.certificatesInUse ? `${p.certificatesInUse} certificate(s) not yet renewed` : "", p.ownCertificate ? "the GDS's own certificate (moves last)" : ""].filter(Boolean).join(", ");
    say(`  superseded CA: serial ${p.serialHex}, valid to ${iso(p.notAfterMs)}; trusted until it retires; in use by ${holds || "nothing"}`);
  }
}

/** How `ca show` and the install report name where a CA key lives. */
function keyText(storage: CaKeyStorage): string {
  if (storage.kind === "pkcs11") return `in the PKCS#11 token "${storage.token}", label "${storage.label}" (not extractable)`;
  return storage.encrypted ? "encrypted" : "not encrypted";
}

/** Prints what install or import did, and what the operator still has to do. */
function reportInstalled(verb: string, r: CaInstallReport, json: boolean | undefined): void {
  if (json) return printJson(r);
  if (r.rolloverFrom) {
    say(`installed the next CA of ${r.group}/${r.certificateType}: ${r.subject} (issuer ${r.issuer})`);
    say(`  the superseded CA ${r.rolloverFrom} stays in the trust list, with its CRL, until it retires`);
    say("  a running GDS picks the new CA up by itself (no restart)");
    return;
  }
  say(`${verb} ${r.kind} CA for ${r.group}/${r.certificateType}: ${r.subject}`);
  say(`  issuer:     ${r.issuer}${r.chainLength ? ` (chain of ${r.chainLength} kept in ca.chain.pem)` : ""}`);
  say(`  thumbprint: ${r.thumbprint} (SHA-1)`);
  say(`  key:        ${keyText(r.keyStorage)}${r.keyStorage.kind === "file" && !r.keyStorage.encrypted ? " (set OPCUA_GDS_CA_PASSPHRASE to encrypt it)" : ""}`);
  if (r.backupFolder) say(`  previous CA kept in ${r.backupFolder}`);
  if (r.serverCertificateReissued) say("  the GDS's own certificate was issued again by the new CA");
  if (r.kind === "subordinate" && r.chainLength === 0) say("  no --chain given: clients must get the issuer certificates of this CA some other way");
  say("restart a running GDS (opcua-gds start) so that it signs with the new CA");
}

function printDescription(d: CaDescription): void {
  say(`${d.group}/${d.certificateType}${d.present ? `  ${d.kind}` : "  (no CA yet: created by opcua-gds init)"}`);
  if (d.present) {
    say(`  subject:    ${d.subject}`);
    if (d.kind === "subordinate") say(`  issuer:     ${d.issuer}`);
    say(`  serial:     ${d.serialNumber}`);
    say(`  valid:      ${d.notBefore} to ${d.notAfter}`);
    say(`  thumbprint: ${d.thumbprint} (SHA-1)`);
    if (d.keyStorage) say(`  key:        ${keyText(d.keyStorage)}`);
    for (const c of d.chain ?? []) say(`  chain:      ${c.subject} (${c.thumbprint}, until ${c.notAfter})`);
  }
  if (d.pendingKey) say("  pending:    ca.pending.key.pem waits for `opcua-gds ca install`");
  if (d.nextKey) say("  next:       ca.next.key.pem (ca renew --csr) waits for `opcua-gds ca install`");
}

/** `opcua-gds ca csr|install|import|show`: the GDS's certificate authorities, e.g. as a subordinate of a plant's offline root. */
export function registerCa(program: Command): void {
  const ca = program.command("ca").description("the GDS's certificate authorities: subordinate CA request and installation, import, status");

  ca.command("csr")
    .description("write a PKCS#10 request for a subordinate CA certificate (new key kept as ca.pending.key.pem until `ca install`)")
    .option("--data <dir>", "data folder (default ./pki-store)")
    .option("--group <group>", GROUP_HELP)
    .option("--subject <dn>", "subject of the CA certificate (default: that of the current CA)")
    .option("--out <file>", "write the request to this file (default: standard output)")
    .action(async (options: CsrOptions) => {
      const request = await admin(options).requestCertificate({ group: options.group, subject: options.subject });
      const note = await writeRequest(request.pem, options.out);
      if (options.out) note(`certificate signing request for ${request.group}/${request.certificateType} written to ${options.out}`);
      note(`  subject:     ${request.subject}`);
      note(`  pending key: ${request.pendingKeyFile}${request.reusedPendingKey ? " (the key of an earlier request, used again)" : ""}`);
      note("have it signed as a CA certificate (CA=TRUE, keyUsage keyCertSign and cRLSign), then run `opcua-gds ca install SIGNED.pem --chain ISSUERS.pem`");
    });

  ca.command("install <cert>")
    .description("install the signed certificate of the pending key (ca csr) as the group's CA; the previous CA is kept in a dated backup folder")
    .option("--data <dir>", "data folder (default ./pki-store)")
    .option("--group <group>", GROUP_HELP)
    .option("--chain <file>", "PEM file with the issuer certificates (up to the root); the certificate must chain to them")
    .option("--db <url>", "postgres:// URL of a shared database (for a rollover install; default: SQLite in the data folder)")
    .option("--json", "print the result as JSON")
    .action(async (cert: string, options: InstallOptions) => {
      const report = await admin(options).installCertificate({ group: options.group, certificateFile: cert, chainFile: options.chain });
      // A rollover (ca renew --csr) also records the superseded CA and its CRL in the database.
      if (report.rolloverFrom) await withServices(options, (s) => s.rollover.checkRollover(Date.now(), cliActor()));
      reportInstalled("installed", report, options.json);
    });

  ca.command("renew")
    .description("CA rollover: a new CA certificate (new key by default) becomes current; the old CA stays trusted, with its CRL, until nothing uses it")
    .requiredOption("--group <group>", GROUP_HELP)
    .option("--data <dir>", "data folder (default ./pki-store)")
    .option("--db <url>", "postgres:// URL of a shared database (default: SQLite in the data folder; env OPCUA_GDS_DB)")
    .option("--reuse-key", "keep the current CA key and only issue a new certificate for it (default: a new key)")
    .option("--subject <dn>", "subject of the new CA certificate (default: that of the current CA)")
    .option("--csr <file>", "subordinate CA: write a PKCS#10 request for the next CA's new key (ca.next.key.pem) instead; install the signed certificate with `ca install`")
    .option("--json", "print the result as JSON")
    .action(async (options: RenewOptions) => {
      if (options.csr) {
        if (options.reuseKey) throw invalidArgument("--csr always requests a certificate for a new key: leave out --reuse-key");
        const request = await admin(options).requestCertificate({ group: options.group, subject: options.subject, next: true });
        await writeRequest(request.pem, options.csr);
        if (options.json) return printJson(request);
        say(`request for the next CA of ${request.group}/${request.certificateType} written to ${options.csr}`);
        say(`  subject:  ${request.subject}`);
        say(`  next key: ${request.pendingKeyFile}${request.reusedPendingKey ? " (the key of an earlier request, used again)" : ""}`);
        say("have it signed as a CA certificate, then run `opcua-gds ca install SIGNED.pem --chain ISSUERS.pem --group " + request.group + "`: the current CA stays trusted until it retires");
        return;
      }
      const report = await withServices(options, (s) => s.rollover.renew(cliActor(), options.group!, { reuseKey: Boolean(options.reuseKey), subject: options.subject }));
      if (options.json) return printJson(report);
      printRenewed(report);
    });

  ca.command("status")
    .description("each group's current CA and the superseded CAs still trusted (a rollover in progress), with what still uses them; retires those nothing uses")
    .option("--data <dir>", "data folder (default ./pki-store)")
    .option("--db <url>", "postgres:// URL of a shared database (default: SQLite in the data folder; env OPCUA_GDS_DB)")
    .option("--json", "print as JSON")
    .action(async (options: CaOptions & { db?: string }) => {
      const { check, status } = await withServices(options, async (s) => {
        const check = await s.rollover.checkRollover(Date.now(), cliActor());
        return { check, status: await s.rollover.status(Date.now()) };
      });
      if (options.json) return printJson({ check, status });
      for (const r of check.retired) say(`retired the superseded CA ${r.serialHex} of ${r.group}/${r.certificateType} (${r.reason})`);
      if (check.ownCertificateRenewed) say("the GDS's own certificate was issued again by the new CA");
      status.forEach(printStatus);
    });

  ca.command("import")
    .description("make an existing CA certificate and its key (a PEM file, or a key in the PKCS#11 token) the group's CA; the previous CA is kept in a dated backup folder")
    .requiredOption("--cert <file>", "CA certificate (PEM or DER)")
    .option("--key <file>", "its private key (PEM; an encrypted one is read with OPCUA_GDS_CA_PASSPHRASE)")
    .option("--pkcs11-key <label>", "or: the label of its private key in the token of OPCUA_GDS_CA_PKCS11_MODULE / _TOKEN / _PIN (sensitive, not extractable)")
    .option("--data <dir>", "data folder (default ./pki-store)")
    .option("--group <group>", GROUP_HELP)
    .option("--chain <file>", "PEM file with the issuer certificates (up to the root); the certificate must chain to them")
    .option("--json", "print the result as JSON")
    .action(async (options: ImportOptions) => {
      if (Boolean(options.key) === Boolean(options.pkcs11Key)) throw invalidArgument("give the CA's private key with --key FILE or --pkcs11-key LABEL (one of them)");
      const common = { group: options.group, certificateFile: options.cert, chainFile: options.chain };
      const report = options.key ? await admin(options).importAuthority({ ...common, keyFile: options.key }) : await admin(options).importTokenAuthority({ ...common, keyLabel: options.pkcs11Key as string });
      reportInstalled("imported", report, options.json);
    });

  ca.command("show")
    .description("show each group's CA: subject, serial, validity, thumbprint, key encryption, self-signed or subordinate")
    .option("--data <dir>", "data folder (default ./pki-store)")
    .option("--json", "print as JSON")
    .action(async (options: CaOptions) => {
      const authorities = await admin(options).describe();
      if (options.json) return printJson(authorities);
      authorities.forEach(printDescription);
    });
}
