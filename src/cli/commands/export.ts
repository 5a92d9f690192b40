import fs from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { parseApplicationId } from "../../domain/application-id";
import { GdsError, invalidArgument } from "../../domain/errors";
import { BUNDLE_FORMATS, type BundleFile, type BundleFormat } from "../../services/export-service";
import { printJson, readStdin, say } from "../output";
import { cliActor, withDataOptions, withServices, type DataOptions } from "./common";

interface ExportOptions extends DataOptions {
  format: string;
  out: string;
  passwordStdin?: boolean;
}

/**
 * Writes the bundle into a new folder `out`: first beside it, then renamed, so that an interrupted
 * export never leaves half a bundle; secrets with mode 0600, the folder 0700 when it holds one.
 */
async function writeBundle(out: string, files: BundleFile[]): Promise<void> {
  const target = path.resolve(out);
  const existing = await fs.readdir(target).catch(() => null);
  if (existing !== null && existing.length > 0) throw new GdsError("EntryExists", `${target} exists and is not empty: give a new folder with --out`);
  const partial = `${target}.partial-${process.pid}`;
  await fs.mkdir(partial, { recursive: true, mode: files.some((f) => f.secret) ? 0o700 : 0o755 });
  try {
    for (const f of files) {
      const file = path.join(partial, ...f.name.split("/"));
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, f.content, { mode: f.secret ? 0o600 : 0o644, flag: "wx" });
      await fs.chmod(file, f.secret ? 0o600 : 0o644);
    }
    if (existing !== null) await fs.rmdir(target);
    await fs.rename(partial, target);
  } catch (e) {
    await fs.rm(partial, { recursive: true, force: true });
    throw e;
  }
}

/** `opcua-gds export`: an offline bundle for an air-gapped device. */
export function registerExport(program: Command): void {
  withDataOptions(program.command("export <applicationId>").description("write an offline bundle for an air-gapped device: certificate, chain, GDS-generated key (encrypted), trust list, CRLs, README.txt"))
    .requiredOption("--format <format>", "pem, der or pfx")
    .requiredOption("--out <folder>", "new folder to write the bundle to")
    .option("--password-stdin", "read the password that encrypts the private key (PFX or PKCS#8) from standard input")
    .option("--json", "print what was written as JSON")
    .action(async (id: string, options: ExportOptions) => {
      const format = options.format.toLowerCase() as BundleFormat;
      if (!BUNDLE_FORMATS.includes(format)) throw invalidArgument(`--format "${options.format}" is not pem, der or pfx`);
      const applicationId = parseApplicationId(id);
      const password = options.passwordStdin ? await readStdin() : null;
      if (password !== null && password.length < 8) throw invalidArgument("the password needs at least 8 characters");
      const bundle = await withServices(options, (s) => s.exports.exportBundle(cliActor(), applicationId, format, password));
      await writeBundle(options.out, bundle.files);
      const summary = {
        out: path.resolve(options.out),
        applicationUri: bundle.applicationUri,
        serial: bundle.serialHex,
        notAfter: new Date(bundle.notAfterMs).toISOString(),
        privateKey: bundle.includesPrivateKey,
        files: bundle.files.map((f) => f.name),
      };
      if (options.json) return printJson(summary);
      say(`wrote ${bundle.files.length} files to ${summary.out} for ${bundle.applicationUri} (certificate ${bundle.serialHex}, ${bundle.includesPrivateKey ? "private key encrypted with the password" : "no private key: it stays on the device"}); see README.txt`);
    });
}
