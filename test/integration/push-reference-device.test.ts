/**
 * Push against an independent ServerConfiguration implementation: node-opcua 2.157 with
 * node-opcua-server-configuration 2.157 (test-devices/node-opcua-2157, its own dependency tree).
 * Its certificate side follows the standard; its trust-list side is mostly a stub (CloseAndUpdate
 * answers Good and changes nothing), so this test pushes the certificate: CreateSigningRequest with
 * a new key, signing by the GDS CA, UpdateCertificate with the chain, ApplyChanges, and a new
 * connection that must see the issued certificate.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { inspectCertificate } from "../helpers/certificates";
import { startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { startReferenceDevice, type ReferenceDevice } from "../helpers/reference-device";
import { freePorts, presentedCertificate } from "../helpers/simulator";

const DEVICE_USER = "admin";
const DEVICE_PASSWORD = "reference-device-password";
const DEVICE_URI = "urn:opcua-gds:test:node-opcua-2157";

describe("push to an independent implementation (node-opcua 2.157 + node-opcua-server-configuration 2.157)", { timeout: 300_000 }, () => {
  let root: string;
  let gds: TestGds;
  let device: ReferenceDevice;
  let applicationId: string;

  before(async () => {
    root = await tempDir("push-reference");
    const port = await freePorts(1);
    gds = await startTestGds("sqlite", undefined, { env: { OPCUA_GDS_PUSH_USER: DEVICE_USER, OPCUA_GDS_PUSH_PASSWORD: DEVICE_PASSWORD } });
    // Commissioning as done on such a device: the GDS CA and its CRL go into the device's trust
    // store by hand once (this implementation cannot take them by a trust-list push).
    const pki = path.join(root, "device-pki");
    await fs.mkdir(path.join(pki, "trusted", "certs"), { recursive: true });
    await fs.mkdir(path.join(pki, "trusted", "crl"), { recursive: true });
    await fs.copyFile(gds.caCertificateFile, path.join(pki, "trusted", "certs", "gds-ca.pem"));
    await fs.copyFile(gds.caCrlFile, path.join(pki, "trusted", "crl", "gds-ca.crl.pem"));
    device = await startReferenceDevice({ port, pkiFolder: pki, applicationUri: DEVICE_URI, user: DEVICE_USER, password: DEVICE_PASSWORD });
    // Registered with DiscoveryUrls for every host its own certificate names, as an engineer would:
    // the GDS signs only names that the registration allows, and this device asks for all of them.
    const own = inspectCertificate(await presentedCertificate(device.endpointUrl));
    const hosts = [...own.ipAddresses, ...own.dnsNames].map((h) => `opc.tcp://${h.includes(":") ? `[${h}]` : h}:${port}`);
    applicationId = await gds.gds.services.directory.registerApplication("test", {
      applicationUri: DEVICE_URI,
      applicationType: 0,
      applicationNames: [{ locale: "en", text: "node-opcua 2.157 device" }],
      productUri: "urn:opcua-gds:test-device:node-opcua-2157",
      discoveryUrls: [...new Set([device.endpointUrl, ...hosts])],
      serverCapabilities: [],
    });
  });

  after(async () => {
    await device?.stop();
    await gds?.stop();
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  it("rotates the device's certificate: the endpoint then presents the GDS-issued certificate with the device's URI", async () => {
    const before = await presentedCertificate(device.endpointUrl);
    const [outcome] = await gds.gds.services.push.run("test", {
      operation: "cert",
      selection: { applicationIds: [applicationId] },
      concurrency: 1,
      timeoutMs: 120_000,
      retries: 1,
      trustDeviceCertificate: true,
    });
    assert.equal(outcome.result, "ok", outcome.reason);
    assert.ok(outcome.serialHex, "the outcome names the serial now on the device");

    const presented = await presentedCertificate(device.endpointUrl);
    assert.ok(!presented.equals(before), "the device presents a new certificate");
    const ca = new X509Certificate(await fs.readFile(gds.caCertificateFile));
    const cert = inspectCertificate(presented);
    assert.ok(cert.node.verify(ca.publicKey), "signed by the GDS CA (node:crypto)");
    assert.deepEqual(cert.uris, [DEVICE_URI]);
    assert.equal(cert.serialHex.toLowerCase(), outcome.serialHex!.toLowerCase());
    const rows = await gds.gds.services.certificates.listCertificates({ applicationId });
    assert.ok(rows.some((r) => r.serialHex === outcome.serialHex!.toLowerCase()), "the GDS keeps the row of what it pushed");
  });
});
