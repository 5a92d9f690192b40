import "reflect-metadata";
import assert from "node:assert/strict";
import { X509Certificate, createHash, webcrypto } from "node:crypto";
import fs from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import {
  AttributeIds,
  ClientMonitoredItem,
  DataType,
  NodeId,
  StatusCodes,
  TimestampsToReturn,
  VariantArrayType,
  constructEventFilter,
  type ClientSession,
  type Variant,
} from "node-opcua";
import { generateRsaKeyPair, privateKeyToPem } from "../../src/ca/certificate-authority";
import { parseCertificateRequest } from "../../src/ca/csr";
import { readTrustList } from "../../src/client/trust-list-reader";
import { encodeTrustList } from "../../src/opcua/trust-list-file";
import { startSimulatedDevices, type SimulatedDevice } from "../../src/simulator";
import { selfSignedApplicationCertificate, x509 } from "../helpers/certificates";
import { tempDir } from "../helpers/gds-fixture";
import {
  SC,
  TestCa,
  applyChanges,
  call,
  createSigningRequest,
  disposePushClientStores,
  failsWith,
  freePortRange,
  presentedCertificate,
  spkiOf,
  trustListMethods,
  updateCertificate,
  withPushSession,
  writeTrustList,
  writeTrustListBytes,
} from "../helpers/push-target";

const PASSWORD = "server-configuration-test";
const MAX_TRUST_LIST_SIZE = 16 * 1024;
const nodeId = (id: string) => NodeId.resolveNodeId(id);

/** UpdateCertificate with free arguments, for the refusals. */
async function updateWith(session: ClientSession, args: { group?: string; type?: string; certificate: Buffer; issuers?: Buffer[]; format?: string; key?: Buffer | null }): Promise<void> {
  await call(session, SC.object, SC.UpdateCertificate, [
    { dataType: DataType.NodeId, value: nodeId(args.group ?? SC.DefaultApplicationGroup) },
    { dataType: DataType.NodeId, value: nodeId(args.type ?? SC.RsaSha256ApplicationCertificateType) },
    { dataType: DataType.ByteString, value: args.certificate },
    { dataType: DataType.ByteString, arrayType: VariantArrayType.Array, value: args.issuers ?? [] },
    { dataType: DataType.String, value: args.format ?? "" },
    { dataType: DataType.ByteString, value: args.key ?? null },
  ]);
}

/** A self-signed application certificate of `uri` valid from `notBefore` to `notAfter`. */
async function selfSigned(uri: string, notBefore: Date, notAfter: Date): Promise<{ der: Buffer; keyPem: string }> {
  const keys = await generateRsaKeyPair(2048);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "0123456789abcdef",
    name: "CN=self signed",
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }])],
  });
  return { der: Buffer.from(cert.rawData), keyPem: await privateKeyToPem(keys.privateKey) };
}

const thumbprint = (der: Buffer) => createHash("sha1").update(der).digest("hex");

describe("ServerConfiguration module on a simulated device (OPC 10000-12 §7.10, §7.8.2)", () => {
  let folder: string;
  let fleet: Awaited<ReturnType<typeof startSimulatedDevices>>;
  let device: SimulatedDevice;
  let ca: TestCa;
  let otherCa: TestCa;
  let pusher: Awaited<ReturnType<TestCa["clientApplication"]>>;
  const as = () => ({ user: { userName: "admin", password: PASSWORD }, application: pusher });

  before(async () => {
    const basePort = await freePortRange(1);
    folder = await tempDir("server-configuration");
    [ca, otherCa] = await Promise.all([TestCa.create("Module CA"), TestCa.create("Other CA")]);
    pusher = await ca.clientApplication("urn:opcua-gds:test:pusher");
    fleet = await startSimulatedDevices({ count: 1, basePort, dataFolder: folder, password: PASSWORD, maxTrustListSize: MAX_TRUST_LIST_SIZE });
    device = fleet.devices[0];
    // Commissioning ends with the first trust list: from then on only the CA's clients get in.
    await withPushSession(device.endpointUrl, as(), async (session) => {
      assert.equal(await writeTrustList(session, await ca.trustList()), true);
      await applyChanges(session);
    });
  });
  after(async () => {
    await fleet?.stop();
    await disposePushClientStores();
    await ca?.dispose();
    await otherCa?.dispose();
    await fs.rm(folder, { recursive: true, force: true });
  });

  it("publishes SupportedPrivateKeyFormats, MaxTrustListSize and the group's CertificateTypes, and the TrustList is writable", async () => {
    await withPushSession(device.endpointUrl, as(), async (session) => {
      const values = await session.read([SC.SupportedPrivateKeyFormats, SC.MaxTrustListSize, SC.CertificateTypes, "ns=0;i=14157"].map((id) => ({ nodeId: id, attributeId: AttributeIds.Value })));
      assert.deepEqual(values[0].value.value, ["PFX", "PEM"]);
      assert.equal(values[1].value.value, MAX_TRUST_LIST_SIZE);
      assert.deepEqual((values[2].value.value as NodeId[]).map(String), ["ns=0;i=12560"]);
      assert.equal(values[3].value.value, true);
    });
  });

  it("UpdateCertificate refuses each wrong input with the status OPC 10000-12 §7.10.5 and OPC 10000-4 name, and nothing is staged", async () => {
    const good = await ca.issueWithKey(device.applicationUri);
    const wrongUri = await ca.issueWithKey("urn:somewhere:else");
    const now = Date.now();
    const expired = await selfSigned(device.applicationUri, new Date(now - 10 * 86400_000), new Date(now - 86400_000));
    const before = await presentedCertificate(device.endpointUrl);
    await withPushSession(device.endpointUrl, as(), async (session) => {
      const pem = { format: "PEM", key: Buffer.from(good.privateKeyPem) };
      await assert.rejects(updateWith(session, { group: "ns=0;i=14088", certificate: good.certificate, ...pem }), failsWith(StatusCodes.BadInvalidArgument));
      await assert.rejects(updateWith(session, { type: "ns=0;i=23537", certificate: good.certificate, ...pem }), failsWith(StatusCodes.BadInvalidArgument));
      await assert.rejects(updateWith(session, { certificate: Buffer.from("not a certificate"), ...pem }), failsWith(StatusCodes.BadCertificateInvalid));
      await assert.rejects(updateWith(session, { certificate: Buffer.alloc(0) }), failsWith(StatusCodes.BadCertificateInvalid));
      await assert.rejects(updateWith(session, { certificate: wrongUri.certificate, format: "PEM", key: Buffer.from(wrongUri.privateKeyPem) }), failsWith(StatusCodes.BadCertificateUriInvalid));
      await assert.rejects(updateWith(session, { certificate: expired.der, format: "PEM", key: Buffer.from(expired.keyPem) }), failsWith(StatusCodes.BadCertificateTimeInvalid));
      await assert.rejects(updateWith(session, { certificate: good.certificate, issuers: [Buffer.from("garbage")], ...pem }), failsWith(StatusCodes.BadCertificateInvalid));
      // No key given, and the certificate's key is neither pending nor current.
      await assert.rejects(updateWith(session, { certificate: good.certificate }), failsWith(StatusCodes.BadSecurityChecksFailed));
      // A key that is not the certificate's.
      await assert.rejects(updateWith(session, { certificate: good.certificate, format: "PEM", key: Buffer.from(wrongUri.privateKeyPem) }), failsWith(StatusCodes.BadSecurityChecksFailed));
      await assert.rejects(updateWith(session, { certificate: good.certificate, format: "DER", key: Buffer.from(good.privateKeyPem) }), failsWith(StatusCodes.BadNotSupported));
      await assert.rejects(updateWith(session, { certificate: good.certificate, format: "PEM", key: Buffer.from("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") }), failsWith(StatusCodes.BadNotSupported));
      await assert.rejects(updateWith(session, { certificate: good.certificate, format: "PFX", key: Buffer.from("not a pfx") }), failsWith(StatusCodes.BadNotSupported));
      // Issued by a CA the device does not know, and the issuer not given.
      const stranger = await otherCa.issueWithKey(device.applicationUri);
      await assert.rejects(updateWith(session, { certificate: stranger.certificate, format: "PEM", key: Buffer.from(stranger.privateKeyPem) }), failsWith(StatusCodes.BadCertificateChainIncomplete));
      // Nothing was staged: ApplyChanges changes nothing.
      await applyChanges(session);
    });
    assert.deepEqual(await presentedCertificate(device.endpointUrl), before);
  });

  it("CreateSigningRequest: without RegeneratePrivateKey the request is for the current key; a short Nonce or a bad SubjectName is BadInvalidArgument; SubjectName 'CN=a/O=b' is used", async () => {
    const current = await presentedCertificate(device.endpointUrl);
    await withPushSession(device.endpointUrl, as(), async (session) => {
      const same = await parseCertificateRequest(await createSigningRequest(session, false, Buffer.alloc(0)));
      assert.deepEqual(Buffer.from(same.publicKeySpki), spkiOf(current));
      assert.ok(same.signatureValid);
      await assert.rejects(createSigningRequest(session, true, Buffer.alloc(31)), failsWith(StatusCodes.BadInvalidArgument));
      await assert.rejects(createSigningRequest(session, true, webcrypto.getRandomValues(Buffer.alloc(32)), "no equals sign"), failsWith(StatusCodes.BadInvalidArgument));
      const named = await parseCertificateRequest(await createSigningRequest(session, false, Buffer.alloc(0), "CN=Line 4 PLC/O=Plant 1"));
      assert.equal(named.subject, "CN=Line 4 PLC, O=Plant 1");
      assert.deepEqual(named.uris, [device.applicationUri]);
    });
  });

  it("a certificate for the current key (CSR without RegeneratePrivateKey) is installed with its chain; the endpoint presents it after reconnecting", async () => {
    let issued: Buffer = Buffer.alloc(0);
    await withPushSession(device.endpointUrl, as(), async (session) => {
      issued = await ca.signCsr(await createSigningRequest(session, false, Buffer.alloc(0)));
      // The issuer is found in the trust list when it is not given.
      assert.equal(await updateCertificate(session, issued, []), true);
      await applyChanges(session);
    });
    assert.deepEqual(await presentedCertificate(device.endpointUrl), issued);
    const pem = await fs.readFile(`${device.dataFolder}/pki/own/certs/certificate.pem`, "utf8");
    assert.equal((pem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, "leaf and CA in the certificate file");
    const key = await fs.stat(`${device.dataFolder}/pki/own/private/private_key.pem`);
    assert.equal(key.mode & 0o777, 0o600);
  });

  it("a transaction belongs to its session: another session gets BadTransactionPending until CancelChanges or the owner's session closes; a closed session's changes are discarded", async () => {
    const trust = await ca.trustList();
    await withPushSession(device.endpointUrl, as(), async (owner) => {
      assert.equal(await writeTrustList(owner, { ...trust, trustedCertificates: [...trust.trustedCertificates, otherCa.certificateDer], trustedCrls: [...trust.trustedCrls, await otherCa.crl()] }), true);
      await withPushSession(device.endpointUrl, as(), async (other) => {
        const good = await ca.issueWithKey(device.applicationUri);
        await assert.rejects(updateCertificate(other, good.certificate, [ca.certificateDer], { format: "PEM", key: Buffer.from(good.privateKeyPem) }), failsWith(StatusCodes.BadTransactionPending));
        const m = await trustListMethods(other);
        await assert.rejects(call(other, SC.trustList, m.get("Open")!, [{ dataType: DataType.Byte, value: 0x06 }]), failsWith(StatusCodes.BadTransactionPending));
        await assert.rejects(call(other, SC.object, SC.ApplyChanges), failsWith(StatusCodes.BadTransactionPending));
        // Readers see the trust list in use, not the pending one.
        const read = await readTrustList(other, nodeId(SC.trustList));
        assert.deepEqual(read.trustedCertificates, trust.trustedCertificates);
      });
      await call(owner, SC.object, SC.CancelChanges);
      await applyChanges(owner);
      assert.deepEqual((await readTrustList(owner, nodeId(SC.trustList))).trustedCertificates, trust.trustedCertificates);
      // A transaction left open when the session closes is dropped.
      assert.equal(await writeTrustList(owner, { ...trust, trustedCertificates: [...trust.trustedCertificates, otherCa.certificateDer], trustedCrls: [...trust.trustedCrls, await otherCa.crl()] }), true);
    });
    await withPushSession(device.endpointUrl, as(), async (session) => {
      assert.equal(await writeTrustList(session, trust), true);
      await applyChanges(session);
      assert.deepEqual((await readTrustList(session, nodeId(SC.trustList))).trustedCertificates, trust.trustedCertificates);
    });
  });

  it("the TrustList file: one writer at a time, Write beyond MaxTrustListSize is BadRequestTooLarge, bad modes, reads of a write handle, malformed content and CRLs of unknown issuers are refused", async () => {
    await withPushSession(device.endpointUrl, as(), async (session) => {
      const m = await trustListMethods(session);
      const open = (mode: number) => call(session, SC.trustList, m.get("Open")!, [{ dataType: DataType.Byte, value: mode }]);
      await assert.rejects(open(0x02), failsWith(StatusCodes.BadNotSupported));
      await assert.rejects(open(0x16), failsWith(StatusCodes.BadInvalidArgument));
      const [handle] = await open(0x06);
      const h = { dataType: DataType.UInt32, value: handle.value };
      await assert.rejects(open(0x06), failsWith(StatusCodes.BadInvalidState));
      await withPushSession(device.endpointUrl, as(), async (other) => {
        await assert.rejects(call(other, SC.trustList, m.get("Open")!, [{ dataType: DataType.Byte, value: 0x06 }]), failsWith(StatusCodes.BadInvalidState));
        await assert.rejects(call(other, SC.trustList, m.get("AddCertificate")!, [{ dataType: DataType.ByteString, value: pusher.certificate }, { dataType: DataType.Boolean, value: true }]), failsWith(StatusCodes.BadInvalidState));
        // The handle is this session's: to another it is unknown.
        await assert.rejects(call(other, SC.trustList, m.get("Close")!, [h]), failsWith(StatusCodes.BadInvalidArgument));
      });
      await assert.rejects(call(session, SC.trustList, m.get("Read")!, [h, { dataType: DataType.Int32, value: 100 }]), failsWith(StatusCodes.BadInvalidState));
      await assert.rejects(call(session, SC.trustList, m.get("Write")!, [h, { dataType: DataType.ByteString, value: Buffer.alloc(MAX_TRUST_LIST_SIZE + 1) }]), failsWith(StatusCodes.BadRequestTooLarge));
      await call(session, SC.trustList, m.get("Write")!, [h, { dataType: DataType.ByteString, value: Buffer.from("not a trust list") }]);
      await assert.rejects(call(session, SC.trustList, m.get("CloseAndUpdate")!, [h]), failsWith(StatusCodes.BadInvalidArgument));
      // CloseAndUpdate closed the handle even though it failed.
      await assert.rejects(call(session, SC.trustList, m.get("Close")!, [h]), failsWith(StatusCodes.BadInvalidArgument));
      const trust = await ca.trustList();
      await assert.rejects(writeTrustListBytes(session, encodeTrustList({ ...trust, trustedCrls: [await otherCa.crl()] }, 15)), failsWith(StatusCodes.BadCertificateInvalid));
      await assert.rejects(writeTrustListBytes(session, encodeTrustList({ ...trust, trustedCertificates: [Buffer.from("junk")] }, 15)), failsWith(StatusCodes.BadCertificateInvalid));
      await assert.rejects(writeTrustListBytes(session, encodeTrustList({ ...trust, issuerCertificates: [pusher.certificate] }, 15)), failsWith(StatusCodes.BadCertificateInvalid));
      // Only the lists a file specifies change: IssuerCertificates alone leaves the trusted CA in place.
      assert.equal(await writeTrustList(session, { trustedCertificates: [], trustedCrls: [], issuerCertificates: [otherCa.certificateDer], issuerCrls: [await otherCa.crl()] }, 4 | 8), true);
      await applyChanges(session);
    });
    await withPushSession(device.endpointUrl, as(), async (session) => {
      const read = await readTrustList(session, nodeId(SC.trustList));
      assert.deepEqual(read.trustedCertificates, [ca.certificateDer]);
      assert.deepEqual(read.issuerCertificates, [otherCa.certificateDer]);
    });
  });

  it("AddCertificate and RemoveCertificate change the trust list at once: an added client connects, a removed CA's clients are refused and its CRL goes with it", async () => {
    const outsiderFolder = await tempDir("outsider");
    const outsiderApp = await selfSignedApplicationCertificate("urn:opcua-gds:test:outsider", outsiderFolder, "outsider");
    const outsider = { der: new X509Certificate(await fs.readFile(outsiderApp.certificateFile)).raw };
    const user = { userName: "admin", password: PASSWORD };
    try {
      await assert.rejects(withPushSession(device.endpointUrl, { user, application: outsiderApp }, async () => undefined));
      await withPushSession(device.endpointUrl, as(), async (session) => {
        const m = await trustListMethods(session);
        const add = (der: Buffer, trusted: boolean) => call(session, SC.trustList, m.get("AddCertificate")!, [{ dataType: DataType.ByteString, value: der }, { dataType: DataType.Boolean, value: trusted }]);
        const remove = (tp: string, trusted: boolean) => call(session, SC.trustList, m.get("RemoveCertificate")!, [{ dataType: DataType.String, value: tp }, { dataType: DataType.Boolean, value: trusted }]);
        await assert.rejects(add(outsider.der, false), failsWith(StatusCodes.BadCertificateInvalid));
        await assert.rejects(add(Buffer.from("junk"), true), failsWith(StatusCodes.BadCertificateInvalid));
        const thirdCa = await TestCa.create("Third CA");
        try {
          const unknownIssuer = await thirdCa.issueWithKey("urn:opcua-gds:test:third");
          await assert.rejects(add(unknownIssuer.certificate, true), failsWith(StatusCodes.BadCertificateChainIncomplete));
        } finally {
          await thirdCa.dispose();
        }
        await add(outsider.der, true);
        await assert.rejects(remove("xyz", true), failsWith(StatusCodes.BadInvalidArgument));
        await assert.rejects(remove("00".repeat(20), true), failsWith(StatusCodes.BadInvalidArgument));
      });
      await withPushSession(device.endpointUrl, { user, application: outsiderApp }, async (session) => {
        const m = await trustListMethods(session);
        // The issuer list's CA goes, with its CRL.
        await call(session, SC.trustList, m.get("RemoveCertificate")!, [{ dataType: DataType.String, value: thumbprint(otherCa.certificateDer) }, { dataType: DataType.Boolean, value: false }]);
        const read = await readTrustList(session, nodeId(SC.trustList));
        assert.deepEqual(read.issuerCertificates, []);
        assert.deepEqual(read.issuerCrls, []);
        // Removing the CA of the pusher's certificate: its clients are refused from now on.
        await call(session, SC.trustList, m.get("RemoveCertificate")!, [{ dataType: DataType.String, value: thumbprint(ca.certificateDer).toUpperCase() }, { dataType: DataType.Boolean, value: true }]);
      });
      await assert.rejects(withPushSession(device.endpointUrl, as(), async () => undefined));
      // The outsider restores the CA for the tests that follow.
      await withPushSession(device.endpointUrl, { user, application: outsiderApp }, async (session) => {
        assert.equal(await writeTrustList(session, { ...(await ca.trustList()), trustedCertificates: [ca.certificateDer, outsider.der] }), true);
        await applyChanges(session);
      });
    } finally {
      await fs.rm(outsiderFolder, { recursive: true, force: true });
    }
  });

  it("UpdateCertificate and CloseAndUpdate raise CertificateUpdatedAuditEventType and TrustListUpdatedAuditEventType with their outcome", async () => {
    await withPushSession(device.endpointUrl, as(), async (session) => {
      const subscription = await session.createSubscription2({ requestedPublishingInterval: 50, publishingEnabled: true, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 100 });
      const events: Variant[][] = [];
      const item = ClientMonitoredItem.create(
        subscription,
        { nodeId: "i=2253", attributeId: AttributeIds.EventNotifier },
        { samplingInterval: 0, discardOldest: true, queueSize: 100, filter: constructEventFilter(["EventType", "Status", "ClientUserId"]) },
        TimestampsToReturn.Neither,
      );
      item.on("changed", (fields: Variant[]) => events.push(fields));
      await new Promise((r) => setTimeout(r, 300));
      await assert.rejects(updateWith(session, { certificate: Buffer.from("junk") }), failsWith(StatusCodes.BadCertificateInvalid));
      assert.equal(await writeTrustList(session, await ca.trustList()), true);
      await call(session, SC.object, SC.CancelChanges);
      const wanted = (e: Variant[]) => ["ns=0;i=12620", "i=12620", "ns=0;i=12561", "i=12561"].includes(String(e[0].value));
      for (let i = 0; i < 150 && events.filter(wanted).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        events.filter(wanted).map((e) => [NodeId.resolveNodeId(String(e[0].value)).value, e[1].value, e[2].value]),
        [
          [12620, false, "admin"],
          [12561, true, "admin"],
        ],
      );
      await subscription.terminate();
    });
  });
});
