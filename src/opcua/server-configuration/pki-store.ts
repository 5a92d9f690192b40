import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { OPCUACertificateManager } from "node-opcua";
import { TrustListMasks, type TrustListContent } from "../trust-list-file";

/**
 * The trust store and own certificate of a node-opcua server, in its PKI folder (the layout of
 * node-opcua-pki: trusted/certs, trusted/crl, issuers/certs, issuers/crl, rejected, own/...).
 * Files may be DER or PEM (one or several blocks); what this store writes is DER, named by the
 * SHA-1 of its content, so the same certificate is never kept twice.
 */
export class PkiStore {
  constructor(private readonly manager: OPCUACertificateManager) {}

  private folderOf(list: keyof TrustListContent): string {
    switch (list) {
      case "trustedCertificates":
        return this.manager.trustedFolder;
      case "trustedCrls":
        return this.manager.crlFolder;
      case "issuerCertificates":
        return this.manager.issuersCertFolder;
      case "issuerCrls":
        return this.manager.issuersCrlFolder;
    }
  }

  /** The four lists as the server uses them now. */
  async read(): Promise<TrustListContent> {
    const [trustedCertificates, trustedCrls, issuerCertificates, issuerCrls] = await Promise.all(LISTS.map(async ({ list, pemLabel }) => (await this.filesOf(this.folderOf(list), pemLabel)).map((f) => f.der)));
    return { trustedCertificates, trustedCrls, issuerCertificates, issuerCrls };
  }

  /**
   * Makes each list selected by `masks` hold exactly the given items: missing ones are written
   * (atomically, one file each), surplus files removed. Files already holding a wanted item stay.
   */
  async replace(content: TrustListContent, masks: number): Promise<void> {
    for (const { bit, list, pemLabel, extension } of LISTS) {
      if ((masks & bit) === 0) continue;
      const folder = this.folderOf(list);
      await fs.mkdir(folder, { recursive: true });
      const wanted = new Map(content[list].map((der) => [digestOf(der), der]));
      const present = await this.filesOf(folder, pemLabel);
      const kept = new Set<string>();
      for (const file of present) {
        const digest = digestOf(file.der);
        // A PEM file with several blocks is kept only when every block is wanted.
        if (wanted.has(digest) && file.blocks === 1) kept.add(digest);
      }
      for (const [digest, der] of wanted) {
        if (!kept.has(digest)) await writeFileAtomically(path.join(folder, `${digest}${extension}`), der, 0o644);
      }
      const removed = new Set<string>();
      for (const file of present) {
        if ((!wanted.has(digestOf(file.der)) || file.blocks !== 1) && !removed.has(file.path)) {
          removed.add(file.path);
          await fs.rm(file.path, { force: true });
        }
      }
    }
  }

  /** Re-reads the trust store into the certificate manager, so that new channels are checked against it. */
  async reload(): Promise<void> {
    await this.manager.reloadCertificates();
  }

  /** The certificates the manager rejected, newest first, at most `max` of them. */
  async rejected(max: number): Promise<Buffer[]> {
    const files = await this.filesOf(this.manager.rejectedFolder, "CERTIFICATE");
    const dated = await Promise.all(files.map(async (f) => ({ der: f.der, mtimeMs: (await fs.stat(f.path).catch(() => null))?.mtimeMs ?? 0 })));
    dated.sort((a, b) => b.mtimeMs - a.mtimeMs);
    const seen = new Set<string>();
    const result: Buffer[] = [];
    for (const { der } of dated) {
      const digest = digestOf(der);
      if (seen.has(digest)) continue;
      seen.add(digest);
      result.push(der);
      if (result.length >= max) break;
    }
    return result;
  }

  /** Every DER item in the files of `folder` (PEM files may hold several). Unreadable files are skipped. */
  private async filesOf(folder: string, pemLabel: string): Promise<Array<{ path: string; der: Buffer; blocks: number }>> {
    let names: string[];
    try {
      names = await fs.readdir(folder);
    } catch {
      return [];
    }
    const items: Array<{ path: string; der: Buffer; blocks: number }> = [];
    for (const name of names.sort()) {
      if (name.endsWith(".tmp") || name.startsWith(".")) continue;
      const file = path.join(folder, name);
      let bytes: Buffer;
      try {
        const stat = await fs.stat(file);
        if (!stat.isFile()) continue;
        bytes = await fs.readFile(file);
      } catch {
        continue;
      }
      const ders = derItems(bytes, pemLabel);
      for (const der of ders) items.push({ path: file, der, blocks: ders.length });
    }
    return items;
  }
}

const LISTS = [
  { bit: TrustListMasks.TrustedCertificates, list: "trustedCertificates", pemLabel: "CERTIFICATE", extension: ".der" },
  { bit: TrustListMasks.TrustedCrls, list: "trustedCrls", pemLabel: "X509 CRL", extension: ".crl" },
  { bit: TrustListMasks.IssuerCertificates, list: "issuerCertificates", pemLabel: "CERTIFICATE", extension: ".der" },
  { bit: TrustListMasks.IssuerCrls, list: "issuerCrls", pemLabel: "X509 CRL", extension: ".crl" },
] as const;

/** SHA-1 hex of a DER item: its file name, and for a certificate its OPC UA thumbprint. */
export function digestOf(der: Buffer): string {
  return createHash("sha1").update(der).digest("hex");
}

function derItems(bytes: Buffer, pemLabel: string): Buffer[] {
  const text = bytes.subarray(0, 64).toString("latin1");
  if (!text.includes("-----BEGIN")) return bytes.length > 0 ? [bytes] : [];
  const pattern = new RegExp(`-----BEGIN ${pemLabel}-----([A-Za-z0-9+/=\\s]+?)-----END ${pemLabel}-----`, "g");
  return [...bytes.toString("latin1").matchAll(pattern)].map((m) => Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}

/**
 * Writes `content` so that no reader ever sees half a file, and, for a key, so that no other user
 * can read it at any moment: created with `mode` beside its final name, flushed, renamed into place.
 */
export async function writeFileAtomically(file: string, content: string | Buffer, mode: number): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const handle = await fs.open(temp, "wx", mode);
  try {
    await handle.writeFile(content);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
}
