/**
 * The agent's rounds (PkiAgent, in process) against a real GDS with strict trust: a device without
 * any GDS user enrols in an onboarding window, waits for approval, collects its certificate with
 * the identity that asked, then works as ApplicationSelfAdmin after the window closed; once revoked
 * it is refused and enrols again. SQLite only: the agent's logic does not depend on the GDS's database.
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { GdsConnectionError, PkiAgent, readPkiStore, type AgentOptions } from "../../src/client/index";
import { ApplicationType } from "../../src/domain/application";
import { startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";

const URI = "urn:plant1:line9:hmi";

describe("agent rounds: onboarding, approval, self-administration, revocation (sqlite)", () => {
  let gds: TestGds;
  let root: string;
  let options: AgentOptions;
  const lines: string[] = [];
  before(async () => {
    gds = await startTestGds("sqlite", undefined, { strictTrust: true });
    root = await tempDir("pki-agent");
    options = {
      endpointUrl: gds.endpointUrl,
      store: path.join(root, "pki"),
      application: { applicationUri: URI, applicationType: ApplicationType.Client, applicationNames: [{ locale: "en", text: "Line 9 HMI" }], productUri: "urn:vendor:hmi", discoveryUrls: [], serverCapabilities: [] },
      gdsCaCertificates: [await fs.readFile(gds.caCertificateFile)],
      intervalMs: 60_000,
      pollIntervalMs: 100,
      approvalWaitMs: 0,
      log: (line) => lines.push(line),
    };
  });
  after(async () => {
    await gds?.stop();
    await fs.rm(root, { recursive: true, force: true });
  });

  it("enrols in the onboarding window, waits for approval, collects with the identity that asked, then works as self after the window closed", async () => {
    const agent = new PkiAgent(options);
    await assert.rejects(agent.round(), (e: unknown) => e instanceof GdsConnectionError && e.failure === "refused", "strict trust, no window: a stranger cannot even open a channel");

    await gds.gds.services.onboarding.open("test", 600_000);
    const waiting = await agent.round();
    assert.ok(waiting.waitingForApproval, "an onboarding request waits");
    assert.equal(waiting.changed, false);
    assert.equal((await readPkiStore(options.store)).certificate, null, "nothing written yet");
    assert.ok(lines.some((l) => l.includes(`registered ${URI}`)), "registered itself in the window");

    const again = await agent.round();
    assert.equal(again.waitingForApproval, waiting.waitingForApproval, "the same request, still waiting");
    const approved = await gds.gds.services.certificates.approvePending("approver", { uriPattern: URI });
    assert.equal(approved.length, 1, "one request, not one per round");

    const done = await agent.round();
    assert.equal(done.changed, true);
    assert.equal(done.waitingForApproval, null);
    const stored = await readPkiStore(options.store);
    assert.equal(stored.certificate?.serialNumber, approved[0].serialHex);
    assert.equal(stored.trustedCrls.length, 1);

    await gds.gds.services.onboarding.close("test");
    const quiet = await agent.round();
    assert.deepEqual([quiet.changed, quiet.renewalReason], [false, null], "as ApplicationSelfAdmin with its GDS-issued certificate, nothing to do");
    assert.ok(quiet.nextRoundAtMs > Date.now() + 50_000, "next round after the interval");
  });

  it("a revoked certificate is refused by the GDS: the agent enrols again (here in a new window) and replaces it", async () => {
    const agent = new PkiAgent(options);
    const before = (await readPkiStore(options.store)).certificate!;
    await gds.gds.services.certificates.revokeSerials("test", [before.serialNumber], "compromised");
    // The GDS's own channel follows its CRL; the agent then finds itself refused and must enrol.
    await gds.gds.services.onboarding.open("test", 600_000);
    const waiting = await agent.round();
    assert.ok(lines.some((l) => /the GDS refused the certificate held/.test(l)), lines.join("\n"));
    assert.ok(waiting.waitingForApproval);
    await gds.gds.services.certificates.approvePending("approver", { uriPattern: URI });
    const done = await agent.round();
    assert.equal(done.changed, true);
    const after = (await readPkiStore(options.store)).certificate!;
    assert.notEqual(after.serialNumber, before.serialNumber);
    assert.deepEqual((await readPkiStore(options.store)).trustedCrls.length, 1);
    await gds.gds.services.onboarding.close("test");
  });
});
