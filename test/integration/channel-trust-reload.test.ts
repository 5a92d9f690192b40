import "reflect-metadata";
import assert from "node:assert/strict";
import { webcrypto as crypto } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as x509 from "@peculiar/x509";
import { StatusCodes } from "node-opcua";
import { generateRsaKeyPair } from "../../src/ca/certificate-authority";
import { ChannelCertificateManager } from "../../src/opcua/certificate-managers";
import { tempDir } from "../helpers/gds-fixture";
import { certifyKey, makeOfflineRoot } from "../helpers/offline-root";

/**
 * The server's channel trust store is reloaded after every CRL change (a revocation, `ca renew`, a
 * CRL re-signed); node-opcua-pki empties its in-memory index first and reads the folders back one
 * file at a time. A client whose certificate chains to a trusted CA must not be refused because it
 * connects during a reload.
 */
describe("channel trust during a reload", () => {
  let root: string;
  let manager: ChannelCertificateManager;
  let clientDer: Buffer;

  before(async () => {
    root = await tempDir("channel-trust-");
    const ca = await makeOfflineRoot("CN=Plant 1 GDS CA, O=Plant 1");
    const crl = await x509.X509CrlGenerator.create({
      issuer: ca.certificate.subject,
      thisUpdate: new Date(Date.now() - 60_000),
      nextUpdate: new Date(Date.now() + 86400_000),
      entries: [],
      signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      signingKey: ca.keys.privateKey,
    });
    const keys = await generateRsaKeyPair(2048);
    const spki = await crypto.subtle.exportKey("spki", keys.publicKey);
    clientDer = Buffer.from((await certifyKey(ca, "CN=client", spki, false)).rawData);
    manager = new ChannelCertificateManager(root, () => false);
    await manager.initialize();
    // Several CAs and CRLs in the store, as after rollovers: a reload takes a while to read them back.
    for (let i = 0; i < 8; i++) {
      const other = await makeOfflineRoot(`CN=Other CA ${i}`);
      await fs.writeFile(path.join(root, "trusted", "certs", `other-${i}.der`), Buffer.from(other.certificate.rawData));
    }
    await fs.writeFile(path.join(root, "trusted", "certs", "gds-ca.der"), Buffer.from(ca.certificate.rawData));
    await fs.writeFile(path.join(root, "trusted", "crl", "gds-ca.crl"), Buffer.from(crl.rawData));
    await manager.reloadCertificates();
  });
  after(async () => {
    await manager?.dispose();
    await fs.rm(root, { recursive: true, force: true });
  });

  const check = (): Promise<string> => (manager.checkCertificate(clientDer) as unknown as Promise<{ name: string }>).then((s) => s.name);

  it("accepts the client while nothing reloads", async () => {
    assert.equal(await check(), StatusCodes.Good.name);
  });

  it("gives the same answer to checks made while the store reloads", async () => {
    const answers: string[] = [];
    for (let round = 0; round < 20; round++) {
      const reload = manager.reloadCertificates();
      // Checks at several moments of the reload: at its start and between its file reads.
      const checks = [check(), new Promise<string>((r) => setImmediate(() => void check().then(r))), new Promise<string>((r) => setTimeout(() => void check().then(r), 2))];
      answers.push(...(await Promise.all(checks)));
      await reload;
    }
    assert.deepEqual([...new Set(answers)], [StatusCodes.Good.name]);
  });
});
