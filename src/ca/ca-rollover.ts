import fs from "node:fs/promises";
import path from "node:path";
import type * as x509 from "@peculiar/x509";
import type { KeyObject } from "node:crypto";
import { GdsError } from "../domain/errors";
import { writeCaKeyFile } from "./ca-keys";
import { CertificateAuthority, generateRsaKeyPair } from "./certificate-authority";
import { exists, writePrivateKeyFile, writePublicFile } from "./key-files";

/** What a self-signed rollover needs besides the current CA. */
export interface SelfSignedRenewal {
  reuseKey: boolean;
  subject: string;
  keySize: 2048 | 3072 | 4096;
  lifetimeDays: number;
  passphrase?: string;
}

/**
 * Copies the current CA of `folder` (certificate, key at mode 0600, chain) into `previous/SERIAL/`,
 * where it keeps signing CRLs for the certificates it issued until it retires. Written before the
 * new CA replaces the files, so that the old key is never missing; a copy left by an interrupted
 * rollover (same serial as the current CA) is ignored when loading.
 */
async function keepAsPrevious(folder: string, current: CertificateAuthority): Promise<void> {
  const target = CertificateAuthority.previousFolder(folder, current.serialHex);
  await fs.mkdir(target, { recursive: true, mode: 0o700 });
  const key = await fs.readFile(CertificateAuthority.keyFile(folder), "latin1");
  await writePrivateKeyFile(CertificateAuthority.keyFile(target), key);
  const chainFile = CertificateAuthority.chainFile(folder);
  if (await exists(chainFile)) await writePublicFile(CertificateAuthority.chainFile(target), await fs.readFile(chainFile));
  await writePublicFile(CertificateAuthority.certificateFile(target), await fs.readFile(CertificateAuthority.certificateFile(folder)));
}

/**
 * Rollover of a self-signed CA: the current CA goes to `previous/`, and a new self-signed CA
 * certificate (new key unless `reuseKey`) becomes the current one.
 */
export async function renewSelfSigned(folder: string, current: CertificateAuthority, options: SelfSignedRenewal, clock: { nowMs(): number }): Promise<void> {
  if (current.chain.length > 0 || !(await current.certificate.isSelfSigned())) {
    throw new GdsError("InvalidArgument", `the CA in ${folder} is a subordinate CA: its next certificate must come from its issuer. Run \`opcua-gds ca renew --csr FILE\`, have the request signed, then \`opcua-gds ca install SIGNED.pem --chain ISSUERS.pem\``);
  }
  const keys = options.reuseKey ? await current.exportKeyPair() : await generateRsaKeyPair(options.keySize);
  await keepAsPrevious(folder, current);
  await CertificateAuthority.writeSelfSigned(folder, keys, { subject: options.subject, keySize: options.keySize, lifetimeDays: options.lifetimeDays, passphrase: options.passphrase }, clock);
  // The CRL file beside the certificate was signed by the superseded key; the new CA's follows.
  await fs.rm(path.join(folder, "ca.crl.pem"), { force: true });
}

/**
 * Rollover to a CA certificate signed by another CA (the `ca renew --csr` key): the current CA goes
 * to `previous/` and the given certificate, key and chain become the current CA. Checked by the
 * caller (ca install).
 */
export async function installNextAuthority(folder: string, current: CertificateAuthority, certificate: x509.X509Certificate, key: KeyObject, parents: x509.X509Certificate[], passphrase: string | undefined): Promise<void> {
  await keepAsPrevious(folder, current);
  await writeAuthorityFiles(folder, certificate, key, parents, passphrase);
}

/**
 * Writes a CA's files into `folder`: chain, key (mode 0600) and certificate, each atomically, and
 * drops the CRL file the previous key signed. A crash between key and certificate leaves a pair
 * that CertificateAuthority.load refuses rather than a CA that signs what nobody can verify.
 */
export async function writeAuthorityFiles(folder: string, certificate: x509.X509Certificate, key: KeyObject, parents: x509.X509Certificate[], passphrase: string | undefined): Promise<void> {
  const chainFile = CertificateAuthority.chainFile(folder);
  if (parents.length > 0) await writePublicFile(chainFile, parents.map((c) => `${c.toString("pem")}\n`).join(""));
  else await fs.rm(chainFile, { force: true });
  await writeCaKeyFile(CertificateAuthority.keyFile(folder), key, passphrase);
  await writePublicFile(CertificateAuthority.certificateFile(folder), `${certificate.toString("pem")}\n`);
  await fs.rm(path.join(folder, "ca.crl.pem"), { force: true });
}

/**
 * A superseded CA retires: its folder moves from `previous/` to `retired/` and its key is
 * destroyed there (moved first, so that an interruption never leaves a superseded CA without its
 * key). Idempotent.
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
}
