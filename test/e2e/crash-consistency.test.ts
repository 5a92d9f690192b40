/**
 * Crash consistency of issuance (a sample; bench/crash-bench.ts runs the full count): the built
 * `opcua-gds start` is killed with SIGKILL at random moments while clients issue certificates and an
 * administrator revokes some, and restarted each time. Afterwards every certificate a client
 * received has its row, its request and its audit record, no serial appears twice, the published CRL
 * numbers never went back, and the database passes its integrity check.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { killChildren } from "../helpers/cli";
import { runCrashScenario } from "../helpers/crash-scenario";
import { BACKENDS } from "../helpers/databases";

after(() => killChildren());

for (const backend of BACKENDS) {
  describe(`crash consistency of issuance (${backend}, built CLI)`, () => {
    it("SIGKILL at random moments during 200 concurrent issuances and revocations loses nothing a client received, repeats no serial, never lowers a CRL number", async () => {
      const report = await runCrashScenario({ backend, total: 200, workers: 6, kills: 3, log: (l) => process.stderr.write(`${l}\n`) });
      const { problems, ...figures } = report;
      process.stderr.write(`${JSON.stringify(figures)}\n`);
      assert.deepEqual(problems, []);
      assert.equal(report.received, 200);
      assert.ok(report.revocationsAnswered > 0, "no revocation was answered: the CRL part proved nothing");
      assert.ok(report.crlNumbers.length > 1, "no CRL was published during the run");
    });
  });
}
