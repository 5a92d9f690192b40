import { invalidArgument } from "./errors";

/** PEM (RFC 7468) text of a DER object under `label`, e.g. "CERTIFICATE" or "X509 CRL". */
export function derToPem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der).toString("base64");
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Every PEM block in `text`, in order, with its label and DER content. */
export function pemBlocks(text: string): Array<{ label: string; der: Buffer }> {
  const blocks: Array<{ label: string; der: Buffer }> = [];
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)) {
    blocks.push({ label: m[1], der: Buffer.from(m[2].replace(/\s+/g, ""), "base64") });
  }
  return blocks;
}

/** A certificate given as DER or PEM, as DER (the first CERTIFICATE block of a PEM text). */
export function certificateDer(data: Buffer | string): Buffer {
  const text = typeof data === "string" ? data : data.subarray(0, 64).toString("latin1").includes("-----BEGIN") ? data.toString("latin1") : null;
  if (text === null) return data as Buffer;
  const block = pemBlocks(text).find((b) => b.label === "CERTIFICATE");
  if (!block) throw invalidArgument("the PEM text holds no CERTIFICATE block");
  return block.der;
}
