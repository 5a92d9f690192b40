/**
 * How the GDS gets into a device, and how it lets others in (OPC 10000-12 §7.10; issue 4): a push
 * that logs in with an X509 user token (`push credentials --x509-certificate/--x509-key`) instead of
 * a password, refused with a clear reason when the device does not know that certificate; and
 * `push rejected --trust`, after which a client the device had refused opens a SignAndEncrypt
 * session. Real simulated devices (`opcua-gds simulate`) in a child process, pushed to by the built CLI.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { AttributeIds, MessageSecurityMode, OPCUACertificateManager, OPCUAClient, SecurityPolicy, UserTokenType, VariableIds } from "node-opcua";
import { formatApplicationId } from "../../src/domain/application-id";
import { thumbprintOf } from "../../src/domain/thumbprint";
import { selfSignedApplicationCertificate } from "../helpers/certificates";
import { cli, killChildren, setCliWorkDir } from "../helpers/cli";
import { BACKENDS } from "../helpers/databases";
import { startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";
import { presentedCertificate, registerSimulatedDevice, startSimulator, type Simulator } from "../helpers/simulator";

const DEVICE_USER = "admin";
const DEVICE_PASSWORD = "access-device-password";

interface OutcomeJson {
  applicationId: string;
  result: "ok" | "failed" | "skipped";
  reason: string;
  attempts: number;
  lastStatus: string | null;
}

/** Opens a SignAndEncrypt session on a device as a client with its own certificate; resolves with the device's ServerStatus.State. */
async function sessionAs(endpointUrl: string, identity: { applicationUri: string; certificateFile: string; privateKeyFile: string }, pkiRoot: string): Promise<number> {
  const manager = new OPCUACertificateManager({ rootFolder: pkiRoot, automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
  await manager.initialize();
  const client = OPCUAClient.create({
    applicationName: "hmi",
    applicationUri: identity.applicationUri,
    certificateFile: identity.certificateFile,
    privateKeyFile: identity.privateKeyFile,
    clientCertificateManager: manager,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
  });
  try {
    await client.connect(endpointUrl);
    const session = await client.createSession({ type: UserTokenType.UserName, userName: DEVICE_USER, password: DEVICE_PASSWORD });
    try {
      const state = await session.read({ nodeId: `ns=0;i=${VariableIds.Server_ServerStatus_State}`, attributeId: AttributeIds.Value });
      return state.value.value as number;
    } finally {
      await session.close();
    }
  } finally {
    await client.disconnect();
    await manager.dispose();
  }
}

for (const backend of BACKENDS) {
  describe(`push: X509 user credentials and trusting rejected clients (${backend})`, { timeout: 600_000 }, () => {
    let root: string;
    let gds: TestGds;
    let simulator: Simulator & { basePort: number };
    let pushUser: { certificateFile: string; privateKeyFile: string };
    let id: string;

    const gdsCli = (args: string[], input?: string) =>
      cli([...args, "--data", gds.dataDir, ...(gds.database.url ? ["--db", gds.database.url] : [])], { env: { USER: "access-operator" }, input, timeoutMs: 300_000 });
    const push = async (operation: string): Promise<{ code: number | null; outcome: OutcomeJson; output: string }> => {
      const r = await gdsCli(["push", operation, id, "--retries", "0", "--json"]);
      return { code: r.code, outcome: (JSON.parse(r.stdout) as { outcomes: OutcomeJson[] }).outcomes[0], output: r.stdout + r.stderr };
    };

    before(async () => {
      root = await tempDir("push-access");
      setCliWorkDir(root);
      // The device knows one X509 user (CN=gds-push-user) and gives it SecurityAdmin.
      pushUser = await selfSignedApplicationCertificate("urn:plant1:gds:push-user", root, "gds-push-user");
      [gds, simulator] = await Promise.all([
        startTestGds(backend),
        startSimulator({ count: 1, dataDir: path.join(root, "devices"), password: DEVICE_PASSWORD, userCertificateFiles: [pushUser.certificateFile] }),
      ]);
      id = formatApplicationId(await registerSimulatedDevice(gds.gds.services.directory, simulator.devices[0]));
    });

    after(async () => {
      await simulator?.stop();
      await gds?.stop();
      killChildren();
      await fs.rm(root, { recursive: true, force: true });
    });

    it("a push logs in with an X509 user token: the device gets the trust list and a certificate issued by the GDS CA", async () => {
      const stored = await gdsCli(["push", "credentials", id, "--x509-certificate", pushUser.certificateFile, "--x509-key", pushUser.privateKeyFile, "--json"]);
      assert.equal(stored.code, 0, stored.stderr);
      const thumbprint = thumbprintOf(Buffer.from(new X509Certificate(await fs.readFile(pushUser.certificateFile)).raw));
      assert.match(stored.stdout, new RegExp(`X509 user certificate ${thumbprint}`));

      const r = await gdsCli(["push", "all", id, "--trust-device-certificate", "--retries", "0", "--json"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const [outcome] = (JSON.parse(r.stdout) as { outcomes: OutcomeJson[] }).outcomes;
      assert.equal(outcome.result, "ok", outcome.reason);
      const presented = new X509Certificate(await presentedCertificate(simulator.devices[0].endpointUrl));
      const ca = new X509Certificate(await fs.readFile(gds.caCertificateFile));
      assert.ok(presented.verify(ca.publicKey), "the device presents a certificate signed by the GDS CA");
      const audit = await gds.gds.services.audit.since(0, 10_000);
      assert.ok(audit.some((a) => a.action === "PushSucceeded" && a.subject.startsWith(id)), "the push is audited");
    });

    it("push rejected --trust: a client the commissioned device refused opens a SignAndEncrypt session afterwards, and could not before", async () => {
      const hmi = await selfSignedApplicationCertificate("urn:plant1:line1:hmi", root, "hmi");
      const endpointUrl = simulator.devices[0].endpointUrl;
      await assert.rejects(sessionAs(endpointUrl, hmi, path.join(root, "hmi-pki-1")), "before: the device refuses the HMI's certificate");

      const thumbprint = thumbprintOf(Buffer.from(new X509Certificate(await fs.readFile(hmi.certificateFile)).raw));
      const listed = await gdsCli(["push", "rejected", id, "--json"]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.ok((JSON.parse(listed.stdout) as { rejected: Array<{ thumbprint: string }> }).rejected.some((c) => c.thumbprint === thumbprint), "GetRejectedList names the HMI");
      const trusted = await gdsCli(["push", "rejected", id, "--trust", thumbprint, "--json"]);
      assert.equal(trusted.code, 0, trusted.stderr);

      const state = await sessionAs(endpointUrl, hmi, path.join(root, "hmi-pki-2"));
      assert.equal(state, 0, "after: a session reads ServerStatus.State = Running");
    });

    it("a push with an X509 user certificate the device does not know fails, saying the device refused that certificate and what to check", async () => {
      const stranger = await selfSignedApplicationCertificate("urn:plant1:gds:stranger", root, "stranger");
      const stored = await gdsCli(["push", "credentials", id, "--x509-certificate", stranger.certificateFile, "--x509-key", stranger.privateKeyFile]);
      assert.equal(stored.code, 0, stored.stderr);
      const strangerThumbprint = thumbprintOf(Buffer.from(new X509Certificate(await fs.readFile(stranger.certificateFile)).raw));
      const r = await push("trustlist");
      assert.equal(r.code, 1, r.output);
      assert.equal(r.outcome.result, "failed");
      assert.match(r.outcome.reason, new RegExp(`^device refused the X509 user certificate ${strangerThumbprint}: Bad[A-Za-z]+ - .*check push credentials`), r.outcome.reason);
      assert.equal(r.outcome.attempts, 1, "a refused identity is not retried");
    });
  });
}
