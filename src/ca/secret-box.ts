import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import { GdsError } from "../domain/errors";
import { exists, writePrivateKeyFile } from "./key-files";

/**
 * Seals secrets kept in the database (generated private keys waiting for FinishRequest, device
 * passwords) with AES-256-GCM under a key that lives in the data folder (mode 0600), never in the
 * database: a stolen database alone reveals none of them.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** Loads the key file, creating it when absent. */
  static async open(file: string): Promise<SecretBox> {
    if (!(await exists(file))) await writePrivateKeyFile(file, randomBytes(32).toString("base64"));
    const key = Buffer.from((await fs.readFile(file, "utf8")).trim(), "base64");
    if (key.length !== 32) throw new GdsError("Configuration", `the secret key file ${file} is damaged`);
    return new SecretBox(key);
  }

  seal(plain: Buffer | string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([cipher.update(typeof plain === "string" ? Buffer.from(plain, "utf8") : plain), cipher.final()]);
    return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
  }

  open(sealed: string): Buffer {
    if (!sealed.startsWith("v1:")) throw new GdsError("Configuration", "a sealed secret has an unknown format");
    const raw = Buffer.from(sealed.slice(3), "base64");
    const decipher = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
    } catch {
      throw new GdsError("Configuration", "a sealed secret does not open with this data folder's key");
    }
  }
}
