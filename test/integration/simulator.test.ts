import "reflect-metadata";
import assert from "node:assert/strict";
import { X509Certificate, webcrypto } from "node:crypto";
import fs from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { AttributeIds, NodeId, StatusCodes } from "node-opcua";
import { packagePrivateKey } from "../../src/ca/key-packaging";
import { parseCertificateRequest } from "../../src/ca/csr";
import { readTrustList } from "../../src/client/trust-list-reader";
import { startSimulatedDevices, type SimulatedDevice } from "../../src/simulator";
import { tempDir } from "../helpers/gds-fixture";
import {
  SC,
  TestCa,
  applyChanges,
  createSigningRequest,
  disposePushClientStores,
  failsWith,
  freePortRange,
  getRejectedList,
  presentedCertificate,
  updateCertificate,
  withPushSession,
  writeTrustList,
} from "../helpers/push-target";

const PASSWORD = "simulator-test-password";
const admin = { user: { userName: "admin", password: PASSWORD } };

describe("device simulator (OPC 10000-12 §7.10 push targets)", () => {
  let folder: string;
  let fleet: Awaited<ReturnType<typeof startSimulatedDevices>>;
  let devices: SimulatedDevice[];
  let ca: TestCa;
  let pusher: Awaited<ReturnType<TestCa["clientApplication"]>>;
  let basePort: number;

  before(async () => {
    basePort = await freePortRange(3);
    folder = await tempDir("simulator");
    ca = await TestCa.create();
    pusher = await ca.clientApplication("urn:opcua-gds:test:pusher");
    fleet = await startSimulatedDevices({ count: 3, basePort, dataFolder: folder, password: PASSWORD, behaviours: { 1: "no-key-generation", 2: "refuse-certificate" } });
    devices = fleet.devices;
  });
  after(async () => {
    await fleet?.stop();
    await disposePushClientStores();
    await ca?.dispose();
    await fs.rm(folder, { recursive: true, force: true });
  });

  it("starts devices on 127.0.0.1:basePort+i with their ApplicationUri and a self-signed certificate of it in dataFolder/device-i", async () => {
    assert.equal(devices.length, 3);
    for (const d of devices) {
      assert.equal(d.endpointUrl, `opc.tcp://127.0.0.1:${basePort + d.index}`);
      assert.equal(d.applicationUri, `urn:opcua-gds:simulated:device:${d.index}`);
      const presented = new X509Certificate(await presentedCertificate(d.endpointUrl));
      assert.match(presented.subjectAltName ?? "", new RegExp(`URI:${d.applicationUri}(,|$)`));
      assert.ok(presented.checkIssued(presented), "self-signed");
      assert.ok((await fs.stat(`${d.dataFolder}/pki/own/private/private_key.pem`)).isFile());
    }
  });

  it("a normal device: trust list written, CSR with a new key signed by the CA, UpdateCertificate, ApplyChanges; after reconnecting the endpoint presents the pushed certificate and the trust list reads back", async () => {
    const device = devices[0];
    const before = await presentedCertificate(device.endpointUrl);
    let issued: Buffer = Buffer.alloc(0);
    const trust = await ca.trustList();
    await withPushSession(device.endpointUrl, { ...admin, application: pusher }, async (session) => {
      const formats = await session.read({ nodeId: SC.SupportedPrivateKeyFormats, attributeId: AttributeIds.Value });
      assert.deepEqual(formats.value.value, ["PFX", "PEM"]);
      assert.equal(await writeTrustList(session, trust), true);
      const csrDer = await createSigningRequest(session, true);
      const csr = await parseCertificateRequest(csrDer);
      assert.ok(csr.signatureValid);
      assert.equal(csr.signatureHash, "SHA-256");
      assert.deepEqual(csr.uris, [device.applicationUri]);
      // The host it is reachable at, as a CA checking names against the DiscoveryUrl wants.
      assert.deepEqual([csr.dnsNames, csr.ipAddresses], [[], ["127.0.0.1"]]);
      assert.notDeepEqual(Buffer.from(csr.publicKeySpki), new X509Certificate(before).publicKey.export({ type: "spki", format: "der" }), "a new key");
      issued = await ca.signCsr(csrDer);
      assert.equal(await updateCertificate(session, issued, [ca.certificateDer]), true);
      await applyChanges(session);
    });
    const after = await presentedCertificate(device.endpointUrl);
    assert.deepEqual(after, issued, "the endpoint presents the pushed certificate");
    // A session proves the device holds the new key; the trust list reads back as written.
    await withPushSession(device.endpointUrl, { ...admin, application: pusher }, async (session) => {
      const read = await readTrustList(session, NodeId.resolveNodeId(SC.trustList));
      assert.deepEqual(read.trustedCertificates, trust.trustedCertificates);
      assert.deepEqual(read.trustedCrls, trust.trustedCrls);
    });
  });

  it("after its first trust-list write a device refuses an unknown client and lists it in GetRejectedList", async () => {
    const device = devices[0];
    const stranger = await tempDir("stranger");
    await assert.rejects(withPushSession(device.endpointUrl, admin, async () => undefined));
    await withPushSession(device.endpointUrl, { ...admin, application: pusher }, async (session) => {
      const rejected = await getRejectedList(session);
      assert.ok(rejected.length >= 1);
      assert.ok(rejected.every((der) => new X509Certificate(der).subject.length > 0));
    });
    await fs.rm(stranger, { recursive: true, force: true });
  });

  it("a no-key-generation device refuses RegeneratePrivateKey with BadNotSupported and takes a key pair as PFX", async () => {
    const device = devices[1];
    const issued = await ca.issueWithKey(device.applicationUri);
    await withPushSession(device.endpointUrl, { ...admin, application: pusher }, async (session) => {
      await assert.rejects(createSigningRequest(session, true), failsWith(StatusCodes.BadNotSupported));
      assert.equal(await writeTrustList(session, await ca.trustList()), true);
      const pfx = await packagePrivateKey("PFX", issued.privateKeyPkcs8, issued.certificate, [ca.certificateDer], null);
      assert.equal(await updateCertificate(session, issued.certificate, [ca.certificateDer], { format: "PFX", key: pfx }), true);
      await applyChanges(session);
    });
    assert.deepEqual(await presentedCertificate(device.endpointUrl), issued.certificate);
    await withPushSession(device.endpointUrl, { ...admin, application: pusher }, async (session) => {
      assert.ok(session.sessionId);
    });
  });

  it("a refuse-certificate device answers UpdateCertificate with BadCertificateInvalid and keeps its certificate", async () => {
    const device = devices[2];
    const before = await presentedCertificate(device.endpointUrl);
    await withPushSession(device.endpointUrl, { ...admin, application: pusher }, async (session) => {
      const issued = await ca.signCsr(await createSigningRequest(session, true, webcrypto.getRandomValues(Buffer.alloc(32))));
      await assert.rejects(updateCertificate(session, issued, [ca.certificateDer]), failsWith(StatusCodes.BadCertificateInvalid));
      await applyChanges(session);
    });
    assert.deepEqual(await presentedCertificate(device.endpointUrl), before);
  });
});
