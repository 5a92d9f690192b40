import "reflect-metadata";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { StatusCodes } from "node-opcua";
import { CertificateClient } from "../../src/client/directory-client";
import { parseApplicationId } from "../../src/domain/application-id";
import { makeCsr, testKeyPair, x509 } from "../helpers/certificates";
import { BACKENDS } from "../helpers/databases";
import { ADMIN_PASSWORD, startTestGds, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory, type ClientOptions } from "../helpers/opcua-client";
import { serverRecord } from "../helpers/records";
import { withStatus } from "../helpers/status";

const admin: ClientOptions = { user: { userName: "admin", password: ADMIN_PASSWORD } };

/** The samples of the exposition text: `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function scrape(gds: TestGds): Promise<Map<string, number>> {
  const response = await fetch(gds.gds.metricsUrl!);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
  return samples(await response.text());
}

for (const backend of BACKENDS) {
  describe(`Prometheus metrics and fleet status (${backend})`, () => {
    let gds: TestGds;
    before(async () => {
      gds = await startTestGds(backend, undefined, { metrics: true });
    });
    after(async () => {
      await gds?.stop();
      await disposeClientStores();
    });

    it("serves on loopback only and answers 404 beside /metrics", async () => {
      assert.match(gds.gds.metricsUrl ?? "", /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const other = await fetch(gds.gds.metricsUrl!.replace(/\/metrics$/, "/"));
      assert.equal(other.status, 404);
    });

    it("shows each current certificate's expiry and renewal time, the CRL's next update and the calls by status", async () => {
      const keys = await testKeyPair();
      const { certificate, appId } = await withDirectory(gds, admin, async (d) => {
        const c = new CertificateClient(d);
        const id = await d.registerApplication(serverRecord("metrics"));
        const csr = await makeCsr(keys.keys, { uri: "urn:plant1:linemetrics:plc", dns: ["plcmetrics.plant1"] });
        const done = await c.finishRequest(id, await c.startSigningRequest(id, csr));
        return { certificate: done.certificate, appId: id };
      });
      // A refused call is counted with its status.
      await withDirectory(gds, {}, (d) => assert.rejects(d.registerApplication(serverRecord("refused")), withStatus(StatusCodes.BadUserAccessDenied)));

      const cert = new X509Certificate(certificate);
      const labels = '{application_uri="urn:plant1:linemetrics:plc",group="DefaultApplicationGroup",type="RsaSha256ApplicationCertificateType"}';
      let s = await scrape(gds);
      assert.equal(s.get(`opcuagds_certificate_expiration_timestamp_seconds${labels}`), Math.floor(new Date(cert.validTo).getTime() / 1000));
      const notBefore = new Date(cert.validFrom).getTime() / 1000;
      const notAfter = new Date(cert.validTo).getTime() / 1000;
      const renewal = s.get(`opcuagds_certificate_renewal_timestamp_seconds${labels}`)!;
      const twoThirds = notBefore + ((notAfter - notBefore) * 2) / 3;
      // The renewal plan moves each certificate's time earlier by a jitter of at most 2 % of its lifetime.
      assert.ok(renewal <= twoThirds + 1 && renewal >= twoThirds - (notAfter - notBefore) * 0.02 - 1, "renewal at 2/3 of the lifetime, less the jitter");

      const crl = new x509.X509Crl(await (await import("node:fs/promises")).readFile(gds.caCrlFile, "utf8"));
      const ca = '{ca="DefaultApplicationGroup/RsaSha256ApplicationCertificateType"}';
      assert.equal(s.get(`opcuagds_crl_next_update_timestamp_seconds${ca}`), Math.floor(crl.nextUpdate!.getTime() / 1000));
      assert.equal(s.get('opcuagds_requests_total{method="RegisterApplication",status="Good"}'), 1);
      assert.equal(s.get('opcuagds_requests_total{method="RegisterApplication",status="BadUserAccessDenied"}'), 1);
      assert.equal(s.get('opcuagds_requests_total{method="FinishRequest",status="Good"}'), 1);
      assert.ok((s.get("opcuagds_process_resident_memory_bytes") ?? 0) > 0, "process series are there too");

      const status = await gds.gds.services.fleet.status();
      assert.equal(status.applications, 1);
      assert.deepEqual(status.certificates, { valid: 1, renewalDue: 0, expired: 0, revoked: 0 });
      assert.equal(status.expiringSoon, 0);

      // A revoked certificate is no longer current: its series goes, the CRL's number moves on.
      await gds.gds.services.certificates.revokeApplication("test", parseApplicationId(appId), "key compromise");
      s = await scrape(gds);
      assert.equal(s.get(`opcuagds_certificate_expiration_timestamp_seconds${labels}`), undefined);
      assert.deepEqual((await gds.gds.services.fleet.status()).certificates, { valid: 0, renewalDue: 0, expired: 0, revoked: 1 });
    });
  });
}
