/**
 * Client applications for tests of servers that run on a GDS-provisioned PKI folder: identities
 * the GDS issued (through the client library), self-signed strangers, and a check whether a
 * SignAndEncrypt session opens with one of them.
 */
import type { KeyObject } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { MessageSecurityMode, OPCUACertificateManager, OPCUAClient, SecurityPolicy } from "node-opcua";
import { GdsClient, createSelfSignedCertificate, generateApplicationKey } from "../../src/client/index";
import { derToPem } from "../../src/domain/pem";
import { ADMIN_PASSWORD, tempDir, type TestGds } from "./gds-fixture";
import { clientRecord } from "./records";

/** A client application's certificate and key, as files node-opcua's client takes. */
export interface ClientIdentity {
  applicationUri: string;
  certificateFile: string;
  privateKeyFile: string;
}

async function writeIdentity(dir: string, name: string, certificate: Buffer, key: KeyObject, applicationUri: string): Promise<ClientIdentity> {
  const certificateFile = path.join(dir, `${name}.pem`);
  const privateKeyFile = path.join(dir, `${name}.key`);
  await fs.writeFile(certificateFile, derToPem(certificate, "CERTIFICATE"));
  await fs.writeFile(privateKeyFile, key.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  return { applicationUri, certificateFile, privateKeyFile };
}

/** Registers client application `n` with `gds` (as admin) and has a certificate issued to it. */
export async function issuedClient(gds: Pick<TestGds, "endpointUrl" | "caCertificateFile">, dir: string, n: string): Promise<ClientIdentity & { serial: string; applicationId: string; certificate: Buffer }> {
  const client = await GdsClient.connect({ endpointUrl: gds.endpointUrl, gdsTrust: { certificates: [await fs.readFile(gds.caCertificateFile)] }, user: { userName: "admin", password: ADMIN_PASSWORD } });
  try {
    const { record } = await client.ensureRegistered(clientRecord(n));
    const issued = await client.requestCertificate(record);
    return { ...(await writeIdentity(dir, n, issued.certificate.der, issued.privateKey, record.applicationUri)), serial: issued.certificate.serialNumber, applicationId: record.applicationId, certificate: issued.certificate.der };
  } finally {
    await client.close();
  }
}

/** A self-signed client application the GDS knows nothing of. */
export async function strangerClient(dir: string): Promise<ClientIdentity> {
  const key = await generateApplicationKey();
  const uri = "urn:test:stranger";
  return writeIdentity(dir, "stranger", await createSelfSignedCertificate(key, { applicationUri: uri, subject: "CN=stranger", hostNames: ["localhost"] }), key, uri);
}

/** A client that tries once, over SignAndEncrypt. */
const SIGN_AND_ENCRYPT_ONCE = {
  securityMode: MessageSecurityMode.SignAndEncrypt,
  securityPolicy: SecurityPolicy.Basic256Sha256,
  endpointMustExist: false,
  connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
};

/**
 * True when a SignAndEncrypt session with `endpointUrl` opens with `identity`; the client trusts
 * `gds`'s CA and CRL (the server's certificate is verified for real).
 */
export async function sessionOpens(endpointUrl: string, identity: ClientIdentity, gds: Pick<TestGds, "caCertificateFile" | "caCrlFile">): Promise<boolean> {
  const pki = await tempDir("client-of-server");
  await fs.mkdir(path.join(pki, "trusted", "certs"), { recursive: true });
  await fs.mkdir(path.join(pki, "trusted", "crl"), { recursive: true });
  await fs.copyFile(gds.caCertificateFile, path.join(pki, "trusted", "certs", "gds-ca.pem"));
  await fs.copyFile(gds.caCrlFile, path.join(pki, "trusted", "crl", "gds-ca.crl.pem"));
  const manager = new OPCUACertificateManager({ rootFolder: pki, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
  await manager.initialize();
  const client = OPCUAClient.create({ applicationName: "test-client-of-provisioned-server", ...SIGN_AND_ENCRYPT_ONCE, clientCertificateManager: manager, ...identity });
  try {
    await client.connect(endpointUrl);
    await (await client.createSession()).close();
    return true;
  } catch {
    return false;
  } finally {
    await client.disconnect().catch(() => undefined);
    await manager.dispose();
    await fs.rm(pki, { recursive: true, force: true });
  }
}
