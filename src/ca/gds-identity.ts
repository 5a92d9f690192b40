import { isIP } from "node:net";
import os from "node:os";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import type { GdsConfig } from "../config/config";
import type { DataPaths } from "../config/data-folder";
import { DEFAULT_APPLICATION_GROUP } from "../domain/certificate-groups";
import type { CaRegistry } from "./ca-registry";
import { generateRsaKeyPair, privateKeyToPem } from "./certificate-authority";
import { exists, writePrivateKeyFile, writePublicFile } from "./key-files";

/**
 * Makes sure the data folder holds the GDS's own application certificate, issued by the
 * DefaultApplicationGroup CA with its chain. Idempotent: an existing key is never replaced.
 * Returns true when it issued one.
 */
export async function ensureServerCertificate(config: GdsConfig, paths: DataPaths, registry: CaRegistry): Promise<boolean> {
  const [hasCert, hasKey] = await Promise.all([exists(paths.serverCertificate), exists(paths.serverPrivateKey)]);
  if (hasCert && hasKey) return false;
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
  await writePrivateKeyFile(paths.serverPrivateKey, await privateKeyToPem(keys.privateKey));
  // The chain goes with the leaf, so that clients that trust only the CA can build it.
  await writePublicFile(paths.serverCertificate, [certificate, ca.certificate, ...ca.chain].map((c) => `${c.toString("pem")}\n`).join(""));
  return true;
}

/**
 * Puts the DefaultApplicationGroup CA and its current CRL into the server's own trust store, so
 * that clients holding a GDS-issued certificate are trusted and revoked ones refused.
 */
export async function writeServerTrust(paths: DataPaths, caCertificateDer: Buffer, caSerialHex: string, crlDer: Buffer | null): Promise<void> {
  const name = `gds-ca-${caSerialHex.slice(0, 16)}`;
  await writePublicFile(path.join(paths.serverPki, "trusted", "certs", `${name}.der`), caCertificateDer);
  if (crlDer) await writePublicFile(path.join(paths.serverPki, "trusted", "crl", `${name}.crl`), crlDer);
}

/** Keeps `ca.crl.pem` beside each CA certificate current, for operators who distribute it by hand. */
export async function writeCrlFile(paths: DataPaths, group: string, type: string, crlDer: Buffer): Promise<void> {
  await writePublicFile(path.join(paths.caFolder(group, type), "ca.crl.pem"), x509.PemConverter.encode(new Uint8Array(crlDer).buffer, "X509 CRL"));
}
