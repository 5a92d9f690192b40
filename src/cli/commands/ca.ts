import fs from "node:fs/promises";
import type { Command } from "commander";
import { caAdministration, type CaDescription, type CaInstallReport, type CaKeyStorage } from "../../app";
import { resolveConfig } from "../../config/config";
import { invalidArgument } from "../../domain/errors";
import { printJson, say } from "../output";

interface CaOptions {
  data?: string;
  group?: string;
  json?: boolean;
}

interface CsrOptions extends CaOptions {
  out?: string;
  subject?: string;
}

interface InstallOptions extends CaOptions {
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

/** How `ca show` and the install report name where a CA key lives. */
function keyText(storage: CaKeyStorage): string {
  if (storage.kind === "pkcs11") return `in the PKCS#11 token "${storage.token}", label "${storage.label}" (not extractable)`;
  return storage.encrypted ? "encrypted" : "not encrypted";
}

/** Prints what install or import did, and what the operator still has to do. */
function reportInstalled(verb: string, r: CaInstallReport, json: boolean | undefined): void {
  if (json) return printJson(r);
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
      // Without --out stdout carries only the PEM, so that it can be piped; the notes go to stderr.
      const note = options.out ? say : (line: string) => process.stderr.write(`${line}\n`);
      if (options.out) {
        await fs.writeFile(options.out, request.pem, { mode: 0o644 }).catch(() => {
          throw invalidArgument(`cannot write ${options.out}: check the folder exists and is writable`);
        });
        note(`certificate signing request for ${request.group}/${request.certificateType} written to ${options.out}`);
      } else {
        process.stdout.write(request.pem.endsWith("\n") ? request.pem : `${request.pem}\n`);
      }
      note(`  subject:     ${request.subject}`);
      note(`  pending key: ${request.pendingKeyFile}${request.reusedPendingKey ? " (the key of an earlier request, used again)" : ""}`);
      note("have it signed as a CA certificate (CA=TRUE, keyUsage keyCertSign and cRLSign), then run `opcua-gds ca install SIGNED.pem --chain ISSUERS.pem`");
    });

  ca.command("install <cert>")
    .description("install the signed certificate of the pending key (ca csr) as the group's CA; the previous CA is kept in a dated backup folder")
    .option("--data <dir>", "data folder (default ./pki-store)")
    .option("--group <group>", GROUP_HELP)
    .option("--chain <file>", "PEM file with the issuer certificates (up to the root); the certificate must chain to them")
    .option("--json", "print the result as JSON")
    .action(async (cert: string, options: InstallOptions) => {
      const report = await admin(options).installCertificate({ group: options.group, certificateFile: cert, chainFile: options.chain });
      reportInstalled("installed", report, options.json);
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
