import { KeyObject, randomBytes, webcrypto } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type * as x509 from "@peculiar/x509";
import { GdsError } from "../domain/errors";
import { writeCaKeyFile } from "./ca-keys";
import { FileSigningKey, type CaSigningKey } from "./ca-signing-key";
import { CertificateAuthority, createSelfSignedCaCertificate, generateRsaKeyPair } from "./certificate-authority";
import { exists, writePrivateKeyFile, writePublicFile } from "./key-files";
import type { Pkcs11Key, Pkcs11Token } from "./pkcs11-token";
import { createTokenKey, tokenKeyReferenceFile, writeTokenKeyReference } from "./token-keys";

/** The key a new CA certificate goes with: a key file's key, or a key in the PKCS#11 token. */
export type NewCaKey = { kind: "file"; key: KeyObject } | { kind: "pkcs11"; token: Pkcs11Token; key: Pkcs11Key };

/** What a self-signed rollover needs besides the current CA. */
export interface SelfSignedRenewal {
  reuseKey: boolean;
  subject: string;
  keySize: 2048 | 3072 | 4096;
  lifetimeDays: number;
  passphrase?: string;
  /** A new key is made in this token when one is configured. */
  token?: Pkcs11Token;
  /** Label of the group's CA key in the token; the new key gets a label of its own below it. */
  keyLabel: string;
}

/**
 * Copies the current CA of `folder` (certificate, key file at mode 0600 or token key reference,
 * chain) into `previous/SERIAL/`, where it keeps signing CRLs for the certificates it issued until
 * it retires. Written before the new CA replaces the files, so that the old key is never missing;
 * a copy left by an interrupted rollover (same serial as the current CA) is ignored when loading.
 */
async function keepAsPrevious(folder: string, current: CertificateAuthority): Promise<void> {
  const target = CertificateAuthority.previousFolder(folder, current.serialHex);
  await fs.mkdir(target, { recursive: true, mode: 0o700 });
  const keyFile = CertificateAuthority.keyFile(folder);
  if (await exists(keyFile)) await writePrivateKeyFile(CertificateAuthority.keyFile(target), await fs.readFile(keyFile, "latin1"));
  for (const file of [tokenKeyReferenceFile(folder), CertificateAuthority.chainFile(folder)]) {
    if (await exists(file)) await writePublicFile(path.join(target, path.basename(file)), await fs.readFile(file));
  }
  await writePublicFile(CertificateAuthority.certificateFile(target), await fs.readFile(CertificateAuthority.certificateFile(folder)));
}

/**
 * Rollover of a self-signed CA: the current CA goes to `previous/`, and a new self-signed CA
 * certificate (new key unless `reuseKey`; in the token when one is configured) becomes current.
 */
export async function renewSelfSigned(folder: string, current: CertificateAuthority, options: SelfSignedRenewal, clock: { nowMs(): number }): Promise<void> {
  if (current.chain.length > 0 || !(await current.certificate.isSelfSigned())) {
    throw new GdsError("InvalidArgument", `the CA in ${folder} is a subordinate CA: its next certificate must come from its issuer. Run \`opcua-gds ca renew --csr FILE\`, have the request signed, then \`opcua-gds ca install SIGNED.pem --chain ISSUERS.pem\``);
  }
  await keepAsPrevious(folder, current);
  let key: CaSigningKey = current.key;
  if (!options.reuseKey && options.token) {
    // A label of its own: the current key stays in the token for the superseded CA.
    const tokenKey = await createTokenKey(tokenKeyReferenceFile(folder), options.token, `${options.keyLabel}/${randomBytes(4).toString("hex")}`, options.keySize);
    await fs.rm(CertificateAuthority.keyFile(folder), { force: true });
    key = tokenKey;
  } else if (!options.reuseKey) {
    const keys = await generateRsaKeyPair(options.keySize);
    const keyObject = KeyObject.from(keys.privateKey as unknown as webcrypto.CryptoKey);
    await writeCaKeyFile(CertificateAuthority.keyFile(folder), keyObject, options.passphrase);
    await fs.rm(tokenKeyReferenceFile(folder), { force: true });
    key = await FileSigningKey.fromKeyObject(keyObject, CertificateAuthority.keyFile(folder), Boolean(options.passphrase));
  }
  const certificate = await createSelfSignedCaCertificate(key, options.subject, options.lifetimeDays, clock);
  await writePublicFile(CertificateAuthority.certificateFile(folder), certificate.toString("pem"));
  // The CRL file beside the certificate was signed by the superseded CA; the new CA's follows.
  await fs.rm(path.join(folder, "ca.crl.pem"), { force: true });
}

/**
 * Rollover to a CA certificate signed by another CA (the `ca renew --csr` key): the current CA goes
 * to `previous/` and the given certificate, key and chain become the current CA. Checked by the
 * caller (ca install).
 */
export async function installNextAuthority(folder: string, current: CertificateAuthority, certificate: x509.X509Certificate, key: NewCaKey, parents: x509.X509Certificate[], passphrase: string | undefined): Promise<void> {
  await keepAsPrevious(folder, current);
  await writeAuthorityFiles(folder, certificate, key, parents, passphrase);
}

/**
 * Writes a CA's files into `folder`: chain, key (a file at mode 0600, or the token reference; never
 * both) and certificate, each atomically, and drops the CRL file the previous key signed. A crash
 * between key and certificate leaves a pair that CertificateAuthority.load refuses rather than a CA
 * that signs what nobody can verify.
 */
export async function writeAuthorityFiles(folder: string, certificate: x509.X509Certificate, key: NewCaKey, parents: x509.X509Certificate[], passphrase: string | undefined): Promise<void> {
  const chainFile = CertificateAuthority.chainFile(folder);
  if (parents.length > 0) await writePublicFile(chainFile, parents.map((c) => `${c.toString("pem")}\n`).join(""));
  else await fs.rm(chainFile, { force: true });
  if (key.kind === "file") {
    await writeCaKeyFile(CertificateAuthority.keyFile(folder), key.key, passphrase);
    await fs.rm(tokenKeyReferenceFile(folder), { force: true });
  } else {
    await writeTokenKeyReference(tokenKeyReferenceFile(folder), key.token, key.key);
    await fs.rm(CertificateAuthority.keyFile(folder), { force: true });
  }
  await writePublicFile(CertificateAuthority.certificateFile(folder), `${certificate.toString("pem")}\n`);
  await fs.rm(path.join(folder, "ca.crl.pem"), { force: true });
}

/**
 * A superseded CA retires: its folder moves from `previous/` to `retired/` and its key file (or
 * token reference) is deleted there (moved first, so that an interruption never leaves a
 * superseded CA without its key). A key inside a token stays in the token: its administrator
 * deletes it. Idempotent.
 */
export async function retireAuthorityFiles(folder: string, serialHex: string): Promise<void> {
  const from = CertificateAuthority.previousFolder(folder, serialHex);
  const to = CertificateAuthority.retiredFolder(folder, serialHex);
  if (await exists(from)) {
    await fs.mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
    await fs.rm(to, { recursive: true, force: true });
    await fs.rename(from, to);
  }
  await fs.rm(CertificateAuthority.keyFile(to), { force: true });
  await fs.rm(tokenKeyReferenceFile(to), { force: true });
}
