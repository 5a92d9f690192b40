/**
 * The client library (`opcua-gds/client`) against a real GDS over SignAndEncrypt: GdsClient with user
 * credentials and as ApplicationSelfAdmin, certificate requests, trust lists decoded, certificate
 * status, and errors that carry the status and a plain explanation. (Polling while a request waits
 * for approval: pki-agent.test.ts, which runs a GDS with manual approval.)
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import { X509Certificate, createPublicKey, type KeyObject } from "node:crypto";
import fs from "node:fs/promises";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { StatusCodes } from "node-opcua";
import { GdsCallError, GdsClient, GdsConnectionError, createSelfSignedCertificate, generateApplicationKey, type GdsConnectOptions } from "../../src/client/index";
import { BACKENDS } from "../helpers/databases";
import { ADMIN_PASSWORD, startTestGds, type TestGds } from "../helpers/gds-fixture";
import { clientRecord, serverRecord } from "../helpers/records";

const admin = { userName: "admin", password: ADMIN_PASSWORD };

function spkiOf(key: KeyObject): Buffer {
  return (key.type === "private" ? createPublicKey(key) : key).export({ type: "spki", format: "der" });
}

/** A TCP port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function withClient<T>(options: GdsConnectOptions, work: (c: GdsClient) => Promise<T>): Promise<T> {
  const client = await GdsClient.connect(options);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

for (const backend of BACKENDS) {
  describe(`GDS client library (${backend})`, () => {
    let gds: TestGds;
    let caPem: string;
    const connect = (extra: Partial<GdsConnectOptions> = {}): GdsConnectOptions => ({ endpointUrl: gds.endpointUrl, gdsTrust: { certificates: [caPem] }, ...extra });
    before(async () => {
      gds = await startTestGds(backend);
      caPem = await fs.readFile(gds.caCertificateFile, "utf8");
    });
    after(async () => {
      await gds?.stop();
    });

    it("as a user: ensureRegistered registers once, requestCertificate issues from a new key, the trust list decodes into the CA and its CRL", async () => {
      await withClient(connect({ user: admin }), async (c) => {
        const first = await c.ensureRegistered(serverRecord("lib1"));
        assert.equal(first.registered, true);
        const again = await c.ensureRegistered(serverRecord("lib1"));
        assert.deepEqual([again.registered, again.record.applicationId], [false, first.record.applicationId]);
        assert.deepEqual((await c.findApplications("urn:plant1:linelib1:plc")).map((r) => r.applicationId), [first.record.applicationId]);

        assert.equal(await c.getCertificateStatus(first.record.applicationId), true, "no certificate yet");
        const issued = await c.requestCertificate(again.record);
        assert.equal(issued.certificate.applicationUri, "urn:plant1:linelib1:plc");
        assert.deepEqual(spkiOf(issued.privateKey), spkiOf(new X509Certificate(issued.certificate.der).publicKey), "the key made here belongs to the certificate");
        assert.equal(issued.certificate.subject, "CN=PLC lib1");
        assert.ok(new X509Certificate(issued.certificate.der).checkHost("plclib1.plant1"), "host names default to the DiscoveryUrls' hosts");
        assert.ok(new X509Certificate(issued.certificate.der).verify(new X509Certificate(caPem).publicKey));
        assert.deepEqual(issued.issuerCertificates.map((i) => i.der), [new X509Certificate(caPem).raw]);
        assert.equal(await c.getCertificateStatus(first.record.applicationId), false);

        const trust = await c.getTrustList(first.record.applicationId);
        assert.deepEqual(trust.trustedCertificates.map((t) => t.der), [new X509Certificate(caPem).raw]);
        assert.equal(trust.trustedCertificates[0].isCa, true);
        assert.equal(trust.trustedCrls.length, 1);
        assert.equal(trust.trustedCrls[0].issuer, trust.trustedCertificates[0].subject.replace(/, /g, ", "));
        assert.ok(trust.trustedCrls[0].nextUpdate!.getTime() > Date.now());
        assert.deepEqual(trust.trustedCrls[0].revokedSerialNumbers, []);
      });
    });

    it("as ApplicationSelfAdmin (its GDS-issued certificate, anonymous): renews from its existing key or a GDS-generated one, sees revocations in its trust list", async () => {
      const { record, issued } = await withClient(connect({ user: admin }), async (c) => {
        const { record } = await c.ensureRegistered(clientRecord("self-lib"));
        return { record, issued: await c.requestCertificate(record, { method: "newKeyPair" }) };
      });
      assert.deepEqual(spkiOf(issued.privateKey), spkiOf(new X509Certificate(issued.certificate.der).publicKey), "the GDS-generated key is delivered and decrypted");
      await withClient(connect({ application: { certificate: issued.certificate.der, privateKey: issued.privateKey } }), async (c) => {
        assert.equal(await c.getCertificateStatus(record.applicationId), false);
        const renewed = await c.requestCertificate(record, { privateKey: issued.privateKey });
        assert.notEqual(renewed.certificate.serialNumber, issued.certificate.serialNumber);
        assert.deepEqual(spkiOf(renewed.privateKey), spkiOf(issued.privateKey), "the same key, a new certificate");
        // (The session's own certificate stays valid: revoking it would end its self-admin rights.)
        await gds.gds.services.certificates.revokeSerials("test", [renewed.certificate.serialNumber], "superseded");
        const trust = await c.getTrustList(record.applicationId);
        assert.deepEqual(trust.trustedCrls[0].revokedSerialNumbers, [renewed.certificate.serialNumber]);
        const someoneElse = await gds.gds.services.directory.registerApplication("test", serverRecord("not-mine"));
        await assert.rejects(c.getCertificateStatus(`ns=1;g=${someoneElse}`), (e: unknown) => {
          assert.ok(e instanceof GdsCallError);
          assert.equal(e.statusCode.value, StatusCodes.BadUserAccessDenied.value);
          assert.match(e.message, /GetCertificateStatus failed with BadUserAccessDenied.*: the GDS refused this session the call: connect as a user with the needed role/);
          return true;
        });
      });
    });

    it("errors carry the status and a plain explanation: unknown application, anonymous newcomer, wrong password, wrong GDS CA, nobody listening", async () => {
      await withClient(connect({ user: admin }), async (c) => {
        await assert.rejects(c.getCertificateStatus("ns=1;g=00000000-0000-4000-8000-0000000000f1"), (e: unknown) => e instanceof GdsCallError && e.statusCode.value === StatusCodes.BadNotFound.value && /register the application first/.test(e.explanation));
      });
      await withClient(connect(), async (c) => {
        await assert.rejects(c.registerApplication(serverRecord("anon")), (e: unknown) => e instanceof GdsCallError && e.statusCode.value === StatusCodes.BadUserAccessDenied.value);
      });
      await assert.rejects(GdsClient.connect(connect({ user: { userName: "admin", password: "wrong" } })), (e: unknown) => e instanceof GdsConnectionError && e.failure === "refused" && /BadUserAccessDenied|BadIdentityTokenRejected/.test(String(e.statusCode)));
      const strangerCa = await selfSignedCaPem();
      await assert.rejects(GdsClient.connect(connect({ gdsTrust: { certificates: [strangerCa] } })), (e: unknown) => e instanceof GdsConnectionError && e.failure === "gds-not-trusted");
      const port = await closedPort();
      await assert.rejects(GdsClient.connect(connect({ endpointUrl: `opc.tcp://127.0.0.1:${port}` })), (e: unknown) => e instanceof GdsConnectionError && e.failure === "unreachable" && /not reachable/.test(e.message));
    });
  });
}

/** A CA certificate of nobody in particular (PEM). */
async function selfSignedCaPem(): Promise<string> {
  const der = await createSelfSignedCertificate(await generateApplicationKey(), { applicationUri: "urn:stranger", subject: "CN=Stranger CA" });
  return new X509Certificate(der).toString();
}
