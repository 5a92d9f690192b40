import fs from "node:fs/promises";
import path from "node:path";
import { GdsError } from "../domain/errors";
import { exists, writePublicFile } from "./key-files";
import type { Pkcs11Key, Pkcs11Token } from "./pkcs11-token";

/** What `ca.key.pkcs11.json` records of a CA key kept in a token: where to find it, no secret. */
export interface TokenKeyReference {
  token: string;
  label: string;
  /** CKA_ID in hex; empty when the key has none. */
  id: string;
}

/** The file of a CA folder that names its key in a PKCS#11 token. */
export function tokenKeyReferenceFile(folder: string): string {
  return path.join(folder, "ca.key.pkcs11.json");
}

/** What a token must set for a key to serve as a CA key: it never leaves the token and it may sign. */
export function checkTokenKeyProtection(token: Pkcs11Token, key: Pkcs11Key): void {
  const { sensitive, extractable, canSign } = token.protection(key);
  const problem = !sensitive ? "is not sensitive (CKA_SENSITIVE)" : extractable ? "is extractable (CKA_EXTRACTABLE)" : !canSign ? "may not sign (CKA_SIGN)" : null;
  if (problem) {
    throw new GdsError("Configuration", `the key "${key.label}" in the PKCS#11 token "${token.label}" ${problem}: a CA key must be sensitive, not extractable and allowed to sign; generate it so in the token, or let the GDS generate it`);
  }
}

/** The file of a CA folder that names the token key of a `ca csr` request not installed yet. */
export function pendingTokenKeyReferenceFile(folder: string): string {
  return path.join(folder, "ca.pending.key.pkcs11.json");
}

/** Records in `file` (in a CA folder) that a CA key is `key` of `token`. */
export async function writeTokenKeyReference(file: string, token: Pkcs11Token, key: Pkcs11Key): Promise<void> {
  const reference: TokenKeyReference = { token: token.label, label: key.label, id: key.id.toString("hex") };
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writePublicFile(file, `${JSON.stringify(reference, null, 2)}\n`);
}

/**
 * The CA key labelled `label` in the token: the key already there (left by an interrupted first
 * start, or made by the token's administrator) or a new one generated inside the token. Recorded in
 * the folder before any certificate is made with it.
 */
export async function createTokenKey(file: string, token: Pkcs11Token, label: string, bits: number): Promise<Pkcs11Key> {
  const key = token.findKey(label) ?? token.generateKey(label, bits);
  checkTokenKeyProtection(token, key);
  await writeTokenKeyReference(file, token, key);
  return key;
}

/** The token key a reference file of a CA folder names, or null when there is no such file. */
export async function readTokenKeyReference(file: string): Promise<{ reference: TokenKeyReference; resolve(token: Pkcs11Token | undefined): Pkcs11Key } | null> {
  const folder = path.dirname(file);
  if (!(await exists(file))) return null;
  let reference: TokenKeyReference;
  try {
    const parsed = JSON.parse(await fs.readFile(file, "utf8")) as Partial<TokenKeyReference>;
    if (typeof parsed.token !== "string" || typeof parsed.label !== "string" || typeof parsed.id !== "string" || !/^([0-9a-f]{2})*$/.test(parsed.id)) throw new Error("fields");
    reference = { token: parsed.token, label: parsed.label, id: parsed.id };
  } catch {
    throw new GdsError("Configuration", `${file} does not name a key in a PKCS#11 token ({"token", "label", "id"}): restore it from a backup of the CA folder`);
  }
  return {
    reference,
    resolve(token) {
      if (!token) {
        throw new GdsError("Configuration", `the CA key of ${folder} is the key "${reference.label}" in the PKCS#11 token "${reference.token}": set OPCUA_GDS_CA_PKCS11_MODULE, OPCUA_GDS_CA_PKCS11_TOKEN and OPCUA_GDS_CA_PKCS11_PIN (or OPCUA_GDS_CA_PKCS11_PIN_FILE)`);
      }
      if (token.label !== reference.token) {
        throw new GdsError("Configuration", `the CA key of ${folder} is in the PKCS#11 token "${reference.token}", but OPCUA_GDS_CA_PKCS11_TOKEN names "${token.label}": set it to "${reference.token}"`);
      }
      const key = token.findKey(reference.label, reference.id ? Buffer.from(reference.id, "hex") : undefined);
      if (!key) throw new GdsError("Configuration", `the PKCS#11 token "${reference.token}" holds no private key labelled "${reference.label}"${reference.id ? ` with CKA_ID ${reference.id}` : ""}: restore the token from its backup, or the CA folder ${folder} from the backup that matches the token`);
      return key;
    },
  };
}
