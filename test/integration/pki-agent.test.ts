/**
 * The agent's rounds (PkiAgent, in process) against a real GDS with strict trust: a device without
 * any GDS user enrols in an onboarding window, waits for approval, collects its certificate with
 * the identity that asked, then works as ApplicationSelfAdmin after the window closed; once revoked
 * it is refused and enrols again. Under manual approval the library polls FinishRequest, and a
 * renewal waits while the folder keeps the certificate it has. SQLite only: polling and the agent's
 * logic do not depend on the GDS's database (pull.test.ts covers the approval states on both).
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { StatusCodes } from "node-opcua";
import { ApprovalTimeoutError, GdsCallError, GdsClient, GdsConnectionError, PkiAgent, agentPaths, createSelfSignedCertificate, generateApplicationKey, readPkiStore, type AgentOptions } from "../../src/client/index";
import { ApplicationType } from "../../src/domain/application";
import { ADMIN_PASSWORD, startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { serverRecord } from "../helpers/records";

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
    await assert.rejects(new PkiAgent({ ...options, gdsCaCertificates: [] }).round(), /cannot verify the GDS: give its CA certificate with --gds-ca/, "no GDS CA, no trusted certificates yet");
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

describe("under manual approval: the library polls, the agent's renewal waits (sqlite)", () => {
  let gds: TestGds;
  let root: string;
  before(async () => {
    gds = await startTestGds("sqlite", undefined, { approval: "manual" });
    root = await tempDir("pki-agent-manual");
  });
  after(async () => {
    await gds?.stop();
    await fs.rm(root, { recursive: true, force: true });
  });

  it("the library's requestCertificate polls while Bad_NothingToDo, returns once approved, and reports rejection and time-outs", async () => {
    const c = await GdsClient.connect({ endpointUrl: gds.endpointUrl, gdsTrust: { certificates: [await fs.readFile(gds.caCertificateFile)] }, user: { userName: "admin", password: ADMIN_PASSWORD } });
    try {
      const { record } = await c.ensureRegistered(serverRecord("poll"));
      const pending: string[] = [];
      const issuing = c.requestCertificate(record, {
        pollIntervalMs: 100,
        onPending: async (requestId) => {
          pending.push(requestId);
          await gds.gds.services.certificates.approveRequest("approver", requestId.split("g=")[1].toLowerCase());
        },
      });
      const issued = await issuing;
      assert.equal(pending.length, 1, "told once that the request waits");
      assert.equal(issued.requestId, pending[0]);

      const rejecting = c.requestCertificate(record, {
        pollIntervalMs: 100,
        onPending: (requestId) => gds.gds.services.certificates.rejectRequest("approver", requestId.split("g=")[1].toLowerCase(), "not this one"),
      });
      await assert.rejects(rejecting, (e: unknown) => e instanceof GdsCallError && e.statusCode.value === StatusCodes.BadRequestNotAllowed.value && /rejected/.test(e.explanation));

      const key = await generateApplicationKey();
      await assert.rejects(c.requestCertificate(record, { privateKey: key, pollIntervalMs: 100, timeoutMs: 300 }), (e: unknown) => e instanceof ApprovalTimeoutError && /request approve/.test(e.message));
    } finally {
      await c.close();
    }
  });

  it("a renewal that waits for approval keeps the current certificate in the folder and its own key aside, and is collected once approved", async () => {
    let offsetMs = 0;
    const options: AgentOptions = {
      endpointUrl: gds.endpointUrl,
      store: path.join(root, "pki"),
      application: { applicationUri: "urn:plant1:line7:plc", applicationType: ApplicationType.Server, applicationNames: [{ locale: "en", text: "Line 7 PLC" }], productUri: "urn:vendor:plc", discoveryUrls: ["opc.tcp://127.0.0.1:4840"], serverCapabilities: ["NA"] },
      user: { userName: "admin", password: ADMIN_PASSWORD },
      gdsCaCertificates: [await fs.readFile(gds.caCertificateFile)],
      intervalMs: 60_000,
      pollIntervalMs: 100,
      approvalWaitMs: 0,
      log: () => undefined,
      // The agent's own clock runs ahead: its certificate's renewal time has come.
      now: () => Date.now() + offsetMs,
    };
    const approve = async () => (await gds.gds.services.certificates.approvePending("approver", { uriPattern: "urn:plant1:line7:plc" })).map((r) => r.serialHex);
    const agent = new PkiAgent(options);
    assert.ok((await agent.round()).waitingForApproval, "even the first request waits");
    const [first] = await approve();
    assert.equal((await agent.round()).changed, true);
    assert.equal((await readPkiStore(options.store)).certificate?.serialNumber, first);

    offsetMs = 300 * 86400_000;
    const renewing = await agent.round();
    assert.equal(renewing.renewalReason, "the renewal time has come");
    assert.ok(renewing.waitingForApproval);
    assert.equal((await readPkiStore(options.store)).certificate?.serialNumber, first, "the folder keeps the certificate it has");
    await fs.access(agentPaths(options.store).pendingKey);
    assert.equal((await agent.round()).waitingForApproval, renewing.waitingForApproval, "the same request, with the key kept aside");
    const [second] = await approve();
    const collected = await agent.round();
    assert.equal(collected.changed, true);
    assert.equal((await readPkiStore(options.store)).certificate?.serialNumber, second);
    await assert.rejects(fs.access(agentPaths(options.store).pendingKey), "nothing pending any more");
  });
});

describe("agent run loop without a reachable GDS", () => {
  it("backs off, doubling the delay after each failed round, and records the failures in its state", async () => {
    const root = await tempDir("pki-agent-backoff");
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const lines: string[] = [];
    const stop = new AbortController();
    const caKey = await generateApplicationKey();
    const agent = new PkiAgent({
      endpointUrl: `opc.tcp://127.0.0.1:${port}`,
      store: path.join(root, "pki"),
      application: { applicationUri: "urn:plant1:nowhere", applicationType: ApplicationType.Client, applicationNames: [{ locale: "en", text: "nowhere" }], productUri: "urn:x", discoveryUrls: [], serverCapabilities: [] },
      gdsCaCertificates: [await createSelfSignedCertificate(caKey, { applicationUri: "urn:some-ca", subject: "CN=some CA" })],
      intervalMs: 100,
      pollIntervalMs: 100,
      approvalWaitMs: 0,
      maxBackoffMs: 400,
      random: () => 0.5,
      log: (line) => {
        lines.push(line);
        if (lines.filter((l) => l.includes("round failed")).length === 4) stop.abort();
      },
    });
    try {
      await agent.run(stop.signal);
      const delays = lines.filter((l) => l.includes("round failed")).map((l) => /\((\d+) in a row\): .*not reachable.*next attempt in ([\d.]+) s/.exec(l)!.slice(1).join("@"));
      assert.deepEqual(delays, ["1@0.1", "2@0.2", "3@0.4", "4@0.4"], lines.join("\n"));
      const state = JSON.parse(await fs.readFile(agentPaths(path.join(root, "pki")).state, "utf8"));
      assert.equal(state.consecutiveFailures, 4);
      assert.match(state.lastFailure.message, /not reachable/);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
