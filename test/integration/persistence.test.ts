import assert from "node:assert/strict";
import fs from "node:fs/promises";
import { after, describe, it } from "node:test";
import { BACKENDS } from "../helpers/databases";
import { ADMIN_PASSWORD, startTestGds, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../helpers/opcua-client";
import { serverRecord } from "../helpers/records";

const admin = { user: { userName: "admin", password: ADMIN_PASSWORD } };

for (const backend of BACKENDS) {
  describe(`persistence across a restart (${backend})`, () => {
    let current: TestGds | undefined;
    after(async () => {
      await current?.stop();
      await disposeClientStores();
    });

    it("records, record ids, LastCounterResetTime and the GDS's own certificate survive a restart", async () => {
      current = await startTestGds(backend);
      const first = current;
      const { id, reset, recordIdBefore } = await withDirectory(first, admin, async (d) => {
        const id = await d.registerApplication(serverRecord("persist"));
        const q = await d.queryApplications({ applicationUri: "urn:plant1:linepersist:plc" });
        const all = await d.queryApplications({});
        return { id, reset: q.lastCounterResetTime, recordIdBefore: all.applications.length };
      });
      const certificateBefore = await fs.readFile(`${first.dataDir}/server-pki/own/certs/gds-server.pem`, "utf8");
      await first.stop({ keepData: true });
      current = undefined;

      current = await startTestGds(backend, { dataDir: first.dataDir, database: first.database });
      await withDirectory(current, admin, async (d) => {
        const got = await d.getApplication(id);
        assert.equal(got.applicationUri, "urn:plant1:linepersist:plc");
        await d.registerApplication(serverRecord("persist-2"));
        const q = await d.queryApplications({});
        assert.equal(q.lastCounterResetTime.getTime(), reset.getTime());
        assert.equal(q.applications.length, recordIdBefore + 1);
        assert.equal(q.applications[q.applications.length - 1].applicationUri, "urn:plant1:linepersist-2:plc");
      });
      const certificateAfter = await fs.readFile(`${first.dataDir}/server-pki/own/certs/gds-server.pem`, "utf8");
      assert.equal(certificateAfter, certificateBefore, "init never replaces the GDS's certificate");
    });
  });
}
