import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";

/**
 * Writes a private key so that no other user can read it at any moment: the file is created with
 * mode 0600 beside its final name and renamed into place, so a crash never leaves half a key.
 */
export async function writePrivateKeyFile(file: string, pem: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = tempName(file);
  await fs.writeFile(temp, pem, { mode: 0o600, flag: "wx" });
  await fs.chmod(temp, 0o600);
  await fs.rename(temp, file);
}

/**
 * A temporary name beside `file`, unique within this process too: two writes of one file at once
 * (two CRL publications after concurrent revocations) must not rename each other's temporary file away.
 */
function tempName(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
}

/** Writes a public file (certificate, CRL) atomically. */
export async function writePublicFile(file: string, content: string | Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const temp = tempName(file);
  await fs.writeFile(temp, content, { mode: 0o644 });
  await fs.rename(temp, file);
}

/** True when the file exists. */
export async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
