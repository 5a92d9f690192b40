import fs from "node:fs/promises";
import { isIP } from "node:net";
import os from "node:os";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import type { GdsConfig } from "../config/config";
import type { DataPaths } from "../config/data-folder";
import type { Clock } from "../domain/clock";
import { CertificateAuthority, generateRsaKeyPair, privateKeyToPem } from "./certificate-authority";
import { exists, writePrivateKeyFile, writePublicFile } from "./key-files";

const DAY_MS = 86400_000;
/** A CRL is valid for 30 days and re-signed once fewer than 15 remain. */
const CRL_LIFETIME_MS = 30 * DAY_MS;
const CRL_REFRESH_MS = 15 * DAY_MS;

/** What setting up the data folder did. */
export interface IdentityReport {
  ca: CertificateAuthority;
  createdServerCertificate: boolean;
}

function crlFile(caFolder: string): string {
  return path.join(caFolder, "ca.crl.pem");
}

/** Keeps the CA's CRL current: a CRL with a strictly greater number once the old one ages. */
async function ensureCrl(ca: CertificateAuthority, clock: Clock): Promise<x509.X509Crl> {
  const file = crlFile(ca.folder);
  let number = 0;
  if (await exists(file)) {
    const current = new x509.X509Crl(await fs.readFile(file, "utf8"));
    const next = current.nextUpdate?.getTime() ?? 0;
    if (next - clock.nowMs() > CRL_REFRESH_MS) return current;
    const ext = current.extensions.find((e) => e.type === "2.5.29.20");
    number = ext ? parseInt(Buffer.from(ext.value).subarray(2).toString("hex"), 16) : 0;
  }
  const now = clock.nowMs();
  const crl = await ca.signCrl([], number + 1, now, now + CRL_LIFETIME_MS);
  await writePublicFile(file, x509.PemConverter.encode(crl.rawData, "X509 CRL"));
  return crl;
}

/** Puts the CA and its CRL into the server's trust store, so GDS-issued clients are trusted. */
async function trustCa(ca: CertificateAuthority, crl: x509.X509Crl, paths: DataPaths): Promise<void> {
  const name = `gds-ca-${ca.certificate.serialNumber.slice(0, 16)}`;
  await writePublicFile(path.join(paths.serverPki, "trusted", "certs", `${name}.der`), ca.certificateDer);
  await writePublicFile(path.join(paths.serverPki, "trusted", "crl", `${name}.crl`), Buffer.from(crl.rawData));
}

/**
 * Makes sure the data folder holds the DefaultApplicationGroup CA and the GDS's own application
 * certificate issued by it. Idempotent: existing keys are never replaced.
 */
export async function ensureGdsIdentity(config: GdsConfig, paths: DataPaths, clock: Clock): Promise<IdentityReport> {
  await fs.mkdir(paths.root, { recursive: true, mode: 0o700 });
  const ca = await CertificateAuthority.loadOrCreate(
    paths.caFolder(),
    { subject: `CN=opcua-gds DefaultApplicationGroup CA, O=opcua-gds, DC=${config.hostname}`, keySize: config.caKeySize, lifetimeDays: config.caLifetimeDays },
    clock,
  );
  const crl = await ensureCrl(ca, clock);
  await trustCa(ca, crl, paths);

  const [hasCert, hasKey] = await Promise.all([exists(paths.serverCertificate), exists(paths.serverPrivateKey)]);
  if (hasCert && hasKey) return { ca, createdServerCertificate: false };

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
  await writePublicFile(paths.serverCertificate, `${certificate.toString("pem")}\n${ca.certificate.toString("pem")}\n`);
  return { ca, createdServerCertificate: true };
}
