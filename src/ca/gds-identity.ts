import { createPublicKey } from "node:crypto";
import fs from "node:fs/promises";
import { isIP } from "node:net";
import os from "node:os";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import type { GdsConfig } from "../config/config";
import type { DataPaths } from "../config/data-folder";
import { DEFAULT_APPLICATION_GROUP } from "../domain/certificate-groups";
import { GdsError } from "../domain/errors";
import type { CaRegistry } from "./ca-registry";
import { CertificateAuthority, generateRsaKeyPair, privateKeyToPem } from "./certificate-authority";
import { exists, writePrivateKeyFile, writePublicFile } from "./key-files";

/**
 * Makes sure the data folder holds the GDS's own application certificate, issued by the
 * DefaultApplicationGroup CA with its chain. Idempotent: an existing key is never replaced.
 * Returns true when it issued one.
 */
export async function ensureServerCertificate(config: GdsConfig, paths: DataPaths, registry: CaRegistry): Promise<boolean> {
  const [hasCert, hasKey] = await Promise.all([exists(paths.serverCertificate), exists(paths.serverPrivateKey)]);
  if (hasCert && hasKey) return false;
  await issueServerCertificate(config, paths, registry);
  return true;
}

/**
 * Issues the GDS's own application certificate (new key) from the current DefaultApplicationGroup
 * CA and writes it with its chain, replacing what was there. The key is written first: a running
 * server reads both files only when told to present them again.
 */
export async function issueServerCertificate(config: GdsConfig, paths: DataPaths, registry: CaRegistry): Promise<void> {
  const ca = registry.authority(DEFAULT_APPLICATION_GROUP, DEFAULT_APPLICATION_GROUP.certificateTypes[0]);
  const keys = await generateRsaKeyPair(2048);
  const hosts = [...new Set([config.hostname, os.hostname(), "localhost"])];
  const certificate = await ca.issueApplicationCertificate(keys.publicKey, {
    subject: `CN=${config.applicationName}, O=opcua-gds, DC=${config.hostname}`,
    applicationUri: config.applicationUri,
    dnsNames: hosts.filter((h) => !isIP(h)),
    ipAddresses: [...new Set(["127.0.0.1", ...hosts.filter((h) => isIP(h))])],
    lifetimeDays: config.serverCertificateLifetimeDays,
    backdateSeconds: 3600,
  });
  const keyPem = await privateKeyToPem(keys.privateKey);
  // The chain goes with the leaf, so that clients that trust only the CA can build it.
  const chainPem = [certificate, ca.certificate, ...ca.chain].map((c) => `${c.toString("pem")}\n`).join("");
  // Two processes renewing at once (the server's rollover check and `ca status`) could interleave
  // their writes into a key of one and a certificate of the other: written again until they agree.
  for (let attempt = 0; attempt < 3; attempt++) {
    await writePrivateKeyFile(paths.serverPrivateKey, keyPem);
    await writePublicFile(paths.serverCertificate, chainPem);
    if (await serverFilesAgree(paths)) return;
  }
  throw new GdsError("Configuration", `the GDS's certificate ${paths.serverCertificate} and key ${paths.serverPrivateKey} keep being rewritten by another process: stop the other \`opcua-gds\` command and run \`opcua-gds ca status\` again`);
}

/** True when the GDS's key file belongs to the first certificate of its certificate file. */
async function serverFilesAgree(paths: DataPaths): Promise<boolean> {
  const [keyPem, certPem] = await Promise.all([fs.readFile(paths.serverPrivateKey, "utf8"), fs.readFile(paths.serverCertificate, "utf8")]);
  const spki = createPublicKey(keyPem).export({ type: "spki", format: "der" });
  return spki.equals(Buffer.from(new x509.X509Certificate(certPem.split(/(?<=-----END CERTIFICATE-----)/)[0]).publicKey.rawData));
}

/**
 * Serial (lowercase hex) of the CA that issued the GDS's own certificate: the second certificate of
 * its file, which is written with its chain. Null when there is no certificate or no chain.
 */
export async function serverCertificateIssuerSerial(paths: DataPaths): Promise<string | null> {
  if (!(await exists(paths.serverCertificate))) return null;
  const [, issuer] = x509.PemConverter.decode(await fs.readFile(paths.serverCertificate, "utf8"));
  return issuer ? new x509.X509Certificate(issuer).serialNumber.toLowerCase() : null;
}

/**
 * Puts the DefaultApplicationGroup CA and its current CRL into the server's own trust store, so
 * that clients holding a GDS-issued certificate are trusted and revoked ones refused.
 */
export async function writeServerTrust(paths: DataPaths, caCertificateDer: Buffer, caSerialHex: string, crlDer: Buffer | null): Promise<void> {
  const name = serverTrustName(caSerialHex);
  await writePublicFile(path.join(paths.serverPki, "trusted", "certs", `${name}.der`), caCertificateDer);
  if (crlDer) await writePublicFile(path.join(paths.serverPki, "trusted", "crl", `${name}.crl`), crlDer);
}

function serverTrustName(caSerialHex: string): string {
  return `gds-ca-${caSerialHex.slice(0, 16)}`;
}

/** Takes a retired CA and its CRL out of the server's own trust store. */
export async function removeServerTrust(paths: DataPaths, caSerialHex: string): Promise<void> {
  const name = serverTrustName(caSerialHex);
  await fs.rm(path.join(paths.serverPki, "trusted", "certs", `${name}.der`), { force: true });
  await fs.rm(path.join(paths.serverPki, "trusted", "crl", `${name}.crl`), { force: true });
}

/**
 * Keeps `ca.crl.pem` beside each CA certificate current, for operators who distribute it by hand:
 * in the CA folder for the current CA, in `previous/SERIAL/` for a superseded one.
 */
export async function writeCrlFile(paths: DataPaths, group: string, type: string, crlDer: Buffer, supersededSerialHex?: string): Promise<void> {
  const folder = supersededSerialHex ? CertificateAuthority.previousFolder(paths.caFolder(group, type), supersededSerialHex) : paths.caFolder(group, type);
  if (supersededSerialHex && !(await exists(folder))) return;
  await writePublicFile(path.join(folder, "ca.crl.pem"), x509.PemConverter.encode(new Uint8Array(crlDer).buffer, "X509 CRL"));
}
