import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import fs from "node:fs/promises";
import { GdsError } from "../domain/errors";
import { writePrivateKeyFile } from "./key-files";

/** The variable that carries the CA passphrase; named in messages, never its value. */
export const CA_PASSPHRASE_VARIABLE = "OPCUA_GDS_CA_PASSPHRASE";

/** Cipher of encrypted CA keys (PKCS#8 PBES2, as node:crypto writes it). */
const CA_KEY_CIPHER = "aes-256-cbc";

/** True when a PEM private key is encrypted (PKCS#8 `ENCRYPTED PRIVATE KEY` or legacy `Proc-Type: 4,ENCRYPTED`). */
export function isEncryptedPem(pem: string): boolean {
  return pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----") || /Proc-Type:\s*4,\s*ENCRYPTED/.test(pem);
}

/** PKCS#8 PEM of a private key, encrypted with `passphrase` when one is given. */
export function encodeCaPrivateKey(key: KeyObject, passphrase: string | undefined): string {
  if (passphrase) return key.export({ type: "pkcs8", format: "pem", cipher: CA_KEY_CIPHER, passphrase }) as string;
  return key.export({ type: "pkcs8", format: "pem" }) as string;
}

/** A CA private key read from a file, and whether the file held it encrypted. */
export interface CaPrivateKey {
  key: KeyObject;
  encrypted: boolean;
}

/**
 * Decodes a PEM private key (PKCS#8, PKCS#1, encrypted PKCS#8). An encrypted key needs the
 * passphrase; without it, or with a wrong one, this fails with a Configuration error that names
 * `what` and the variable to set. Messages never carry the passphrase nor any key material, and
 * never the underlying OpenSSL error (which says nothing an operator can act on).
 */
export function decodeCaPrivateKey(pem: string, passphrase: string | undefined, what: string): CaPrivateKey {
  const encrypted = isEncryptedPem(pem);
  if (encrypted && !passphrase) {
    throw new GdsError("Configuration", `${what} is encrypted: set ${CA_PASSPHRASE_VARIABLE} to its passphrase`);
  }
  let key: KeyObject;
  try {
    // A passphrase given for a plaintext key is ignored by node:crypto.
    key = createPrivateKey({ key: pem, format: "pem", ...(encrypted ? { passphrase } : {}) });
  } catch {
    if (encrypted) throw new GdsError("Configuration", `${what} cannot be decrypted with the passphrase in ${CA_PASSPHRASE_VARIABLE}: set ${CA_PASSPHRASE_VARIABLE} to the passphrase the key was encrypted with`);
    throw new GdsError("Configuration", `${what} is not a PEM private key (PKCS#8 or PKCS#1)`);
  }
  if (key.type !== "private") throw new GdsError("Configuration", `${what} is not a private key`);
  return { key, encrypted };
}

/**
 * Reads a CA key file. When a passphrase is configured and the file is still plaintext, the file is
 * replaced by its encrypted form (atomically, mode 0600), so that switching encryption on needs no
 * separate step.
 */
export async function readCaKeyFile(file: string, passphrase: string | undefined): Promise<CaPrivateKey> {
  const pem = await fs.readFile(file, "utf8");
  const decoded = decodeCaPrivateKey(pem, passphrase, `the CA key ${file}`);
  if (passphrase && !decoded.encrypted) {
    await writePrivateKeyFile(file, encodeCaPrivateKey(decoded.key, passphrase));
    return { key: decoded.key, encrypted: true };
  }
  return decoded;
}

/** Writes a CA key file (mode 0600, atomically), encrypted when a passphrase is given. */
export async function writeCaKeyFile(file: string, key: KeyObject, passphrase: string | undefined): Promise<void> {
  await writePrivateKeyFile(file, encodeCaPrivateKey(key, passphrase));
}

/** DER SubjectPublicKeyInfo of the public half of a private key, to compare with a certificate's. */
export function publicKeySpkiOf(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: "spki", format: "der" });
}
