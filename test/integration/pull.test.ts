import "reflect-metadata";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey, webcrypto } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { StatusCodes } from "node-opcua";
import { CERTIFICATE_GROUP_IDS, CertificateClient } from "../../src/client/directory-client";
import { readTrustList } from "../../src/client/trust-list-reader";
import { inspectCertificate, makeCsr, testKeyPair, x509 } from "../helpers/certificates";
import { BACKENDS } from "../helpers/databases";
import { ADMIN_PASSWORD, startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory, type ClientOptions } from "../helpers/opcua-client";
import { serverRecord } from "../helpers/records";
import { withStatus } from "../helpers/status";

const admin: ClientOptions = { user: { userName: "admin", password: ADMIN_PASSWORD } };
const DAY_MS = 86400_000;

function openssl(args: string[], input?: Buffer): string {
  const r = spawnSync("openssl", args, { input });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

async function spki(key: CryptoKey): Promise<Buffer> {
  return Buffer.from(await (webcrypto.subtle as unknown as SubtleCrypto).exportKey("spki", key));
}

for (const backend of BACKENDS) {
  describe(`pull certificate management (${backend})`, () => {
    let gds: TestGds;
    let caDer: Buffer;
    let shared: { keys: CryptoKeyPair; privateKeyPem: string };
    before(async () => {
      gds = await startTestGds(backend);
      caDer = Buffer.from(new x509.X509Certificate(await fs.readFile(gds.caCertificateFile, "utf8")).rawData);
      shared = await testKeyPair();
    });
    after(async () => {
      await gds?.stop();
      await disposeClientStores();
    });

    it("the CSR path issues a certificate with exactly the OPC 10000-12 profile, verified with node:crypto", async () => {
      await withDirectory(gds, admin, async (d) => {
        const c = new CertificateClient(d);
        const appId = await d.registerApplication(serverRecord("csr"));
        const csr = await makeCsr(shared.keys, { uri: "urn:plant1:linecsr:plc", dns: ["plccsr.plant1"], subject: "CN=PLC csr, O=Plant 1" });
        const requestId = await c.startSigningRequest(appId, csr);
        const done = await c.finishRequest(appId, requestId);
        assert.equal(done.privateKey, null);
        assert.deepEqual(done.issuerCertificates, [caDer]);

        const cert = inspectCertificate(done.certificate);
        const ca = new X509Certificate(caDer);
        assert.ok(cert.node.verify(ca.publicKey), "signed by the CA");
        assert.ok(cert.node.checkIssued(ca));
        assert.deepEqual(cert.uris, ["urn:plant1:linecsr:plc"]);
        assert.deepEqual(cert.dnsNames, ["plccsr.plant1"]);
        assert.equal(cert.isCa, false);
        assert.ok(cert.basicCritical);
        const expectedUsage = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment;
        assert.equal(cert.keyUsage, expectedUsage, "no keyCertSign, no cRLSign, no keyAgreement");
        assert.deepEqual(cert.extendedKeyUsages.sort(), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
        assert.ok(cert.hasAuthorityKeyIdentifier && cert.hasSubjectKeyIdentifier);
        assert.ok(BigInt(`0x${cert.serialHex}`) >= 2n ** 63n, "a random serial of at least 64 bits");
        const now = Date.now();
        assert.ok(Math.abs(cert.notBefore.getTime() - (now - 3600_000)) < 120_000, "back-dated by one hour");
        assert.ok(Math.abs(cert.notAfter.getTime() - (now + 365 * DAY_MS)) < 120_000, "365 days");
        assert.deepEqual(cert.spki, await spki(shared.keys.publicKey), "the key of the CSR");
        assert.match(cert.node.subject, /CN=PLC csr/);

        await assert.rejects(c.finishRequest(appId, requestId), withStatus(StatusCodes.BadInvalidArgument));
        assert.equal(await c.getCertificateStatus(appId), false);
        const mine = await c.getCertificates(appId);
        assert.deepEqual(mine.certificates, [done.certificate]);
        assert.equal(mine.certificateTypeIds[0].toString(), "ns=0;i=12560");
      });
    });

    it("the new-key-pair path delivers PFX and PEM keys, with and without password, that match the certificate", async () => {
      await withDirectory(gds, admin, async (d) => {
        const c = new CertificateClient(d);
        const appId = await d.registerApplication(serverRecord("nkp"));
        const dir = await tempDir("nkp");
        try {
          for (const [format, password] of [["PFX", "s3cret pass"], ["PFX", ""], ["PEM", "s3cret pass"], ["PEM", ""]] as const) {
            const requestId = await c.startNewKeyPairRequest(appId, { subjectName: "CN=PLC nkp/O=Plant 1", privateKeyFormat: format, password });
            const done = await c.finishRequest(appId, requestId);
            assert.ok(done.privateKey && done.privateKey.length > 0, `${format} key delivered`);
            const cert = inspectCertificate(done.certificate);
            assert.deepEqual(cert.uris, ["urn:plant1:linenkp:plc"]);
            assert.deepEqual(cert.dnsNames, ["plcnkp.plant1"], "DomainNames default to the DiscoveryUrl hosts");
            const file = path.join(dir, `key-${format}-${password ? "pw" : "nopw"}`);
            await fs.writeFile(file, done.privateKey!);
            let keyPem: string;
            if (format === "PFX") {
              keyPem = openssl(["pkcs12", "-in", file, "-passin", `pass:${password}`, "-nodes", "-nocerts"]);
            } else {
              keyPem = openssl(["pkey", "-in", file, "-passin", `pass:${password}`]);
              if (password) assert.match(done.privateKey!.toString(), /ENCRYPTED PRIVATE KEY/);
            }
            const publicFromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" });
            assert.deepEqual(publicFromKey, cert.spki, `${format} key matches the certificate`);
          }
        } finally {
          await fs.rm(dir, { recursive: true, force: true });
        }
      });
    });

    it("CSR checks: a foreign ApplicationUri answers Bad_CertificateUriInvalid; SHA-1, short keys, unknown hosts and garbage Bad_InvalidArgument", async () => {
      await withDirectory(gds, admin, async (d) => {
        const c = new CertificateClient(d);
        const appId = await d.registerApplication(serverRecord("chk"));
        await assert.rejects(c.startSigningRequest(appId, await makeCsr(shared.keys, { uri: "urn:plant1:someone-else" })), withStatus(StatusCodes.BadCertificateUriInvalid));
        await assert.rejects(c.startSigningRequest(appId, await makeCsr(shared.keys, {})), withStatus(StatusCodes.BadCertificateUriInvalid));
        await assert.rejects(c.startSigningRequest(appId, await makeCsr(shared.keys, { uri: "urn:plant1:linechk:plc", hash: "SHA-1" })), withStatus(StatusCodes.BadInvalidArgument));
        const small = await testKeyPair(1024);
        await assert.rejects(c.startSigningRequest(appId, await makeCsr(small.keys, { uri: "urn:plant1:linechk:plc" })), withStatus(StatusCodes.BadInvalidArgument));
        await assert.rejects(c.startSigningRequest(appId, await makeCsr(shared.keys, { uri: "urn:plant1:linechk:plc", dns: ["evil.example.com"] })), withStatus(StatusCodes.BadInvalidArgument));
        await assert.rejects(c.startSigningRequest(appId, Buffer.from("not a csr at all")), withStatus(StatusCodes.BadInvalidArgument));
        await assert.rejects(c.startSigningRequest("ns=1;g=00000000-0000-4000-8000-0000000000aa", await makeCsr(shared.keys, { uri: "urn:x" })), withStatus(StatusCodes.BadNotFound));
        // FinishRequest checks the application before the request: an unknown one is Bad_NotFound, a known one with an unknown request Bad_InvalidArgument.
        await assert.rejects(c.finishRequest("ns=1;g=00000000-0000-4000-8000-0000000000aa", "ns=1;g=00000000-0000-4000-8000-0000000000ac"), withStatus(StatusCodes.BadNotFound));
        await assert.rejects(c.finishRequest(appId, "ns=1;g=00000000-0000-4000-8000-0000000000ac"), withStatus(StatusCodes.BadInvalidArgument));
        await assert.rejects(c.startSigningRequest(appId, await makeCsr(shared.keys, { uri: "urn:plant1:linechk:plc" }), 9999), withStatus(StatusCodes.BadInvalidArgument));
        assert.deepEqual((await gds.gds.services.certificates.listRequests({ applicationId: appId.split("g=")[1].toLowerCase() })).length, 0, "nothing stored for refused CSRs");
      });
    });

    it("GetCertificateGroups, GetTrustList and GetCertificateStatus answer for a registered application", async () => {
      await withDirectory(gds, admin, async (d) => {
        const c = new CertificateClient(d);
        const appId = await d.registerApplication(serverRecord("groups"));
        assert.deepEqual((await c.getCertificateGroups(appId)).map(String), [d.nodeId(CERTIFICATE_GROUP_IDS.DefaultApplicationGroup).toString()]);
        assert.equal((await c.getTrustList(appId)).toString(), d.nodeId(616).toString());
        assert.equal((await c.getTrustList(appId, CERTIFICATE_GROUP_IDS.DefaultHttpsGroup)).toString(), d.nodeId(650).toString());
        assert.equal(await c.getCertificateStatus(appId), true, "no certificate yet: update required");
        await assert.rejects(c.getCertificateGroups("ns=1;g=00000000-0000-4000-8000-0000000000ab"), withStatus(StatusCodes.BadNotFound));
      });
    });

    it("RevokeCertificate puts the serial on a new CRL (checked with openssl crl) and CheckRevocationStatus reports it", async () => {
      await withDirectory(gds, admin, async (d) => {
        const c = new CertificateClient(d);
        const appId = await d.registerApplication(serverRecord("rev"));
        const done = await c.finishRequest(appId, await c.startSigningRequest(appId, await makeCsr(shared.keys, { uri: "urn:plant1:linerev:plc" })));
        const before = await gds.gds.services.certificates.currentCrl();
        assert.equal((await c.checkRevocationStatus(done.certificate)).status.value, StatusCodes.Good.value);
        await c.revokeCertificate(appId, done.certificate);
        const crl = (await gds.gds.services.certificates.currentCrl())!;
        assert.ok(crl.crlNumber > before!.crlNumber, "CRL number strictly increases");
        const text = openssl(["crl", "-inform", "DER", "-noout", "-text"], crl.crlDer);
        assert.ok(text.toUpperCase().includes(inspectCertificate(done.certificate).serialHex.toUpperCase()), "serial on the CRL");
        openssl(["crl", "-inform", "DER", "-noout", "-CAfile", gds.caCertificateFile], crl.crlDer);
        const status = await c.checkRevocationStatus(done.certificate);
        assert.equal(status.status.value, StatusCodes.BadCertificateRevoked.value);
        assert.equal(await c.getCertificateStatus(appId), true, "a revoked certificate needs an update");
        await assert.rejects(c.revokeCertificate(appId, Buffer.from("garbage")), withStatus(StatusCodes.BadNotFound));
      });
      await withDirectory(gds, { user: { userName: "admin", password: ADMIN_PASSWORD } }, async (d) => {
        const crlDer = (await gds.gds.services.certificates.currentCrl())!.crlDer;
        const onDisk = await fs.readdir(path.join(gds.dataDir, "server-pki", "trusted", "crl"));
        assert.equal(onDisk.length, 1);
        assert.deepEqual(await fs.readFile(path.join(gds.dataDir, "server-pki", "trusted", "crl", onDisk[0])), crlDer, "the server's own trust store follows the CRL");
        assert.ok(d);
      });
    });

    it("GetTrustList names a TrustList whose file holds the CA and its current CRL, revocations included at once", async () => {
      await withDirectory(gds, admin, async (d) => {
        const c = new CertificateClient(d);
        const appId = await d.registerApplication(serverRecord("tl"));
        const trustList = await c.getTrustList(appId);
        const before = await readTrustList(d.session, trustList, 15, 100);
        assert.deepEqual(before.trustedCertificates, [caDer]);
        assert.equal(before.trustedCrls.length, 1);
        const done = await c.finishRequest(appId, await c.startSigningRequest(appId, await makeCsr(shared.keys, { uri: "urn:plant1:linetl:plc" })));
        await c.revokeCertificate(appId, done.certificate);
        const after = await readTrustList(d.session, trustList, 2);
        assert.equal(after.specifiedLists, 2);
        assert.deepEqual(after.trustedCertificates, []);
        const text = openssl(["crl", "-inform", "DER", "-noout", "-text"], after.trustedCrls[0]);
        assert.ok(text.toUpperCase().includes(inspectCertificate(done.certificate).serialHex.toUpperCase()));
      });
      await withDirectory(gds, {}, async (d) => {
        await assert.rejects(readTrustList(d.session, d.nodeId(616)), /BadUserAccessDenied/);
      });
    });

    it("manual approval: FinishRequest answers Bad_NothingToDo until approved, Bad_RequestNotAllowed once rejected", async () => {
      const manual = await startTestGds(backend, undefined, { approval: "manual" });
      try {
        await withDirectory(manual, admin, async (d) => {
          const c = new CertificateClient(d);
          const appId = await d.registerApplication(serverRecord("manual"));
          const csr = await makeCsr(shared.keys, { uri: "urn:plant1:linemanual:plc" });
          const first = await c.startSigningRequest(appId, csr);
          await assert.rejects(c.finishRequest(appId, first), withStatus(StatusCodes.BadNothingToDo));
          await manual.gds.services.certificates.approveRequest("approver", first.split("g=")[1].toLowerCase());
          assert.ok((await c.finishRequest(appId, first)).certificate.length > 0);
          const second = await c.startSigningRequest(appId, csr);
          await manual.gds.services.certificates.rejectRequest("approver", second.split("g=")[1].toLowerCase(), "unknown device");
          await assert.rejects(c.finishRequest(appId, second), withStatus(StatusCodes.BadRequestNotAllowed));
          await assert.rejects(c.finishRequest(appId, "ns=1;g=00000000-0000-4000-8000-0000000000ac"), withStatus(StatusCodes.BadInvalidArgument));
        });
      } finally {
        await manual.stop();
      }
    });

    it("ApplicationSelfAdmin: an anonymous session with its GDS-issued certificate manages itself and nothing else", async () => {
      const dir = await tempDir("self");
      try {
        const { selfId, otherId, files } = await withDirectory(gds, admin, async (d) => {
          const c = new CertificateClient(d);
          const selfId = await d.registerApplication(serverRecord("self", { applicationType: 2 }));
          const otherId = await d.registerApplication(serverRecord("other"));
          const requestId = await c.startNewKeyPairRequest(selfId, { subjectName: "CN=self", privateKeyFormat: "PEM" });
          const done = await c.finishRequest(selfId, requestId);
          const files = { certificateFile: path.join(dir, "self.pem"), privateKeyFile: path.join(dir, "self.key") };
          await fs.writeFile(files.certificateFile, new x509.X509Certificate(new Uint8Array(done.certificate)).toString("pem"));
          await fs.writeFile(files.privateKeyFile, done.privateKey!, { mode: 0o600 });
          return { selfId, otherId, files };
        });
        await withDirectory(gds, { application: { applicationUri: "urn:plant1:lineself:plc", ...files } }, async (d) => {
          const c = new CertificateClient(d);
          assert.equal(await c.getCertificateStatus(selfId), false);
          assert.equal((await c.getTrustList(selfId)).toString(), d.nodeId(616).toString());
          const renewed = await c.finishRequest(selfId, await c.startSigningRequest(selfId, await makeCsr(shared.keys, { uri: "urn:plant1:lineself:plc" })));
          assert.ok(renewed.certificate.length > 0, "a self renewal is issued at once");
          await d.updateApplication(selfId, serverRecord("self", { applicationType: 2, applicationNames: [{ locale: "en", text: "renamed by itself" }] }));
          await assert.rejects(c.getCertificateStatus(otherId), withStatus(StatusCodes.BadUserAccessDenied));
          await assert.rejects(c.startSigningRequest(otherId, await makeCsr(shared.keys, { uri: "urn:plant1:lineother:plc" })), withStatus(StatusCodes.BadUserAccessDenied));
          await assert.rejects(d.unregisterApplication(otherId), withStatus(StatusCodes.BadUserAccessDenied));
          await assert.rejects(c.revokeCertificate(selfId, renewed.certificate), withStatus(StatusCodes.BadUserAccessDenied));
        });
        // Once revoked, the GDS's own channel refuses the certificate (its CRL is in the server's trust store).
        const issued = new x509.X509Certificate(await fs.readFile(files.certificateFile, "utf8"));
        await withDirectory(gds, admin, (d) => new CertificateClient(d).revokeCertificate(selfId, Buffer.from(issued.rawData)));
        await assert.rejects(withDirectory(gds, { application: { applicationUri: "urn:plant1:lineself:plc", ...files } }, async () => undefined));
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });

    it("pull methods need SignAndEncrypt and CertificateAuthorityAdmin (or self): others get Bad_SecurityModeInsufficient or Bad_UserAccessDenied", async () => {
      await gds.gds.services.users.addUser("test", "discovery-only", ["DiscoveryAdmin"], "discovery-password");
      const appId = await withDirectory(gds, admin, (d) => d.registerApplication(serverRecord("acl")));
      await withDirectory(gds, { user: { userName: "discovery-only", password: "discovery-password" } }, async (d) => {
        await assert.rejects(new CertificateClient(d).getCertificateStatus(appId), withStatus(StatusCodes.BadUserAccessDenied));
      });
      await withDirectory(gds, {}, async (d) => {
        await assert.rejects(new CertificateClient(d).getCertificateGroups(appId), withStatus(StatusCodes.BadUserAccessDenied));
      });
      await withDirectory(gds, { ...admin, mode: 2 }, async (d) => {
        await assert.rejects(new CertificateClient(d).getCertificateStatus(appId), withStatus(StatusCodes.BadSecurityModeInsufficient));
      });
    });

    it("200 parallel requests for 200 applications give 200 distinct serials and rows, each with its own ApplicationUri", async () => {
      await withDirectory(gds, admin, async (d) => {
        const c = new CertificateClient(d);
        const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => d.registerApplication(serverRecord(`par${i}`))));
        const csrs = await Promise.all(ids.map((_, i) => makeCsr(shared.keys, { uri: `urn:plant1:linepar${i}:plc` })));
        const certificates = await Promise.all(ids.map(async (id, i) => c.finishRequest(id, await c.startSigningRequest(id, csrs[i]))));
        const serials = new Set<string>();
        certificates.forEach((done, i) => {
          const cert = inspectCertificate(done.certificate);
          assert.deepEqual(cert.uris, [`urn:plant1:linepar${i}:plc`]);
          serials.add(cert.serialHex);
        });
        assert.equal(serials.size, 200);
        for (const id of ids.slice(0, 200)) {
          const rows = await gds.gds.services.certificates.getCertificates(id.split("g=")[1].toLowerCase(), null);
          assert.equal(rows.length, 1);
        }
      });
    });

    it("UnregisterApplication revokes the application's certificates", async () => {
      await withDirectory(gds, admin, async (d) => {
        const c = new CertificateClient(d);
        const appId = await d.registerApplication(serverRecord("unreg"));
        const done = await c.finishRequest(appId, await c.startSigningRequest(appId, await makeCsr(shared.keys, { uri: "urn:plant1:lineunreg:plc" })));
        await d.unregisterApplication(appId);
        assert.equal((await c.checkRevocationStatus(done.certificate)).status.value, StatusCodes.BadCertificateRevoked.value);
      });
    });
  });
}
