import "reflect-metadata";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { StatusCodes } from "node-opcua";
import { CertificateClient } from "../../src/client/directory-client";
import { inspectCertificate, makeCsr, selfSignedApplicationCertificate, testKeyPair } from "../helpers/certificates";
import { BACKENDS } from "../helpers/databases";
import { startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../helpers/opcua-client";
import { clientRecord } from "../helpers/records";
import { withStatus } from "../helpers/status";

for (const backend of BACKENDS) {
  describe(`onboarding window (${backend})`, () => {
    let gds: TestGds;
    let dir: string;
    before(async () => {
      gds = await startTestGds(backend, undefined, { strictTrust: true });
      dir = await tempDir("onboarding");
    });
    after(async () => {
      await gds?.stop();
      await disposeClientStores();
      await fs.rm(dir, { recursive: true, force: true });
    });

    it("a device enrols itself only while the window is open, its request waits for approval, and it collects the certificate after the window closed", async () => {
      const uri = "urn:plant1:newdevice:hmi";
      const device = await selfSignedApplicationCertificate(uri, dir, "newdevice");
      const record = clientRecord("newdevice", { applicationUri: uri });

      // Closed, with strict trust: an unknown device cannot even open a channel.
      await assert.rejects(withDirectory(gds, { application: device }, async () => undefined));

      await gds.gds.services.onboarding.open("test", 3600_000);
      const { appId, requestId, keyPair } = await withDirectory(gds, { application: device }, async (d) => {
        await assert.rejects(d.registerApplication(clientRecord("someone-else")), withStatus(StatusCodes.BadUserAccessDenied), "only its own ApplicationUri");
        const appId = await d.registerApplication(record);
        const c = new CertificateClient(d);
        const keyPair = await testKeyPair();
        const requestId = await c.startSigningRequest(appId, await makeCsr(keyPair.keys, { uri }));
        await assert.rejects(c.finishRequest(appId, requestId), withStatus(StatusCodes.BadNothingToDo), "an onboarding request always waits");
        return { appId, requestId, keyPair };
      });

      const approved = await gds.gds.services.certificates.approvePending("approver", { uriPattern: "urn:plant1:%" });
      assert.deepEqual(approved.map((a) => a.applicationUri), [uri]);
      await gds.gds.services.onboarding.close("test");

      // Closed again, with strict trust: unknown certificates cannot open a channel, so a device
      // approved later collects in the next window; only the client certificate that asked may.
      const stranger = await selfSignedApplicationCertificate("urn:plant1:stranger", dir, "stranger");
      await assert.rejects(withDirectory(gds, { application: device }, async () => undefined));
      await gds.gds.services.onboarding.open("test", 60_000);
      await withDirectory(gds, { application: stranger }, async (d) => {
        await assert.rejects(new CertificateClient(d).finishRequest(appId, requestId), withStatus(StatusCodes.BadUserAccessDenied), "not the requester");
        await assert.rejects(d.registerApplication(record), withStatus(StatusCodes.BadUserAccessDenied));
      });
      const done = await withDirectory(gds, { application: device }, (d) => new CertificateClient(d).finishRequest(appId, requestId));
      const issued = inspectCertificate(done.certificate);
      assert.deepEqual(issued.uris, [uri]);
      assert.deepEqual(issued.spki, Buffer.from(await crypto.subtle.exportKey("spki", keyPair.keys.publicKey)));
      await gds.gds.services.onboarding.close("test");

      const actions = (await gds.gds.services.audit.since(0, 10_000)).map((r) => r.action);
      for (const action of ["OnboardingOpened", "SelfRegistration", "StartSigningRequest", "CertificateIssued", "CertificateDelivered", "OnboardingClosed"]) {
        assert.ok(actions.includes(action), `audit has ${action}`);
      }
    });
  });
}
