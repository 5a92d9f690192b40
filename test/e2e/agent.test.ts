/**
 * End-to-end tests of `opcua-gds agent` (the built CLI, child processes) against real GDS instances
 * on SQLite: it provisions an empty PKI folder that a node-opcua server then runs on (accepting a
 * GDS-issued client, refusing a stranger and, after the next CRL refresh, a revoked one), renews
 * short-lived certificates by itself as ApplicationSelfAdmin, leaves the previous folder intact when
 * killed in the middle of a rewrite, and refuses a second agent on the same folder.
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy, nodesets } from "node-opcua";
import { PKI_STORE_FILES, readPkiStore, type PkiManifest } from "../../src/client/index";
import { cli, killChildren, killIfRunning, setCliWorkDir, spawnCli, type CliProcess } from "../helpers/cli";
import { issuedClient, sessionOpens, strangerClient } from "../helpers/client-identities";
import { ADMIN_PASSWORD, startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";

let root: string;
let gds: TestGds;
/** A second GDS whose certificates live 60 seconds: renewal within the test. */
let shortGds: TestGds;
let renewingAgent: CliProcess | undefined;
let firstShortSerial: string;
const running: CliProcess[] = [];

/** Arguments every agent run here takes (the GDS, its CA, the folder, the application). */
function agentArgs(target: TestGds, pki: string, uri: string, extra: string[] = []): string[] {
  return ["agent", "--gds", target.endpointUrl, "--gds-ca", target.caCertificateFile, "--pki", pki, "--application-uri", uri, "--discovery-url", "opc.tcp://127.0.0.1:4841", ...extra];
}

/** `agent --once` as admin (registers the application, gets its first certificate). */
function enrol(target: TestGds, pki: string, uri: string, extra: string[] = []) {
  return cli([...agentArgs(target, pki, uri, ["--user", "admin", "--password-stdin", "--once", ...extra])], { input: ADMIN_PASSWORD });
}

function startAgent(target: TestGds, pki: string, uri: string, interval: string, extra: string[] = []): CliProcess {
  const p = spawnCli(agentArgs(target, pki, uri, ["--interval", interval, "--poll", "1s", ...extra]));
  running.push(p);
  return p;
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function manifestOf(pki: string): Promise<PkiManifest | null> {
  return (await readPkiStore(pki)).manifest;
}

/** Every file of a folder with its content. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out[path.relative(dir, path.join(entry.parentPath, entry.name))] = (await fs.readFile(path.join(entry.parentPath, entry.name))).toString("base64");
  }
  return out;
}

describe("opcua-gds agent", () => {
  before(async () => {
    root = await tempDir("agent-e2e");
    setCliWorkDir(root);
    [gds, shortGds] = await Promise.all([startTestGds("sqlite"), startTestGds("sqlite", undefined, { env: { OPCUA_GDS_CERT_LIFETIME: "60s" } })]);
    // The renewal scenario runs in the background while the others run (its certificates live 60 s).
    const short = path.join(root, "pki-short");
    const first = await enrol(shortGds, short, "urn:e2e:agent:short");
    assert.equal(first.code, 0, first.stderr);
    firstShortSerial = (await manifestOf(short))!.certificate.serialNumber;
    // No --user: every renewal is the application's own (ApplicationSelfAdmin).
    // A long interval: the agent wakes by itself at the certificate's renewal time.
    renewingAgent = startAgent(shortGds, short, "urn:e2e:agent:short", "10m", ["--on-change", `echo "$OPCUA_GDS_CHANGED" >> ${path.join(root, "short-changes.log")}`]);
  });
  after(async () => {
    for (const p of running) await killIfRunning(p);
    killChildren();
    await Promise.all([gds?.stop(), shortGds?.stop()]);
    await fs.rm(root, { recursive: true, force: true });
  });

  it("provisions an empty PKI folder that a node-opcua server runs on: a GDS-issued client is accepted, a stranger refused, a revoked client refused after the next CRL refresh", async () => {
    const pki = path.join(root, "pki-server");
    const uri = "urn:e2e:agent:server";
    const run = await enrol(gds, pki, uri, ["--on-change", `echo changed:$OPCUA_GDS_CHANGED`]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /registered urn:e2e:agent:server with the GDS/);
    assert.match(run.stdout, /changed:certificate,trust-list/);
    const stored = await readPkiStore(pki);
    assert.equal(stored.certificate?.applicationUri, uri);
    assert.equal((await fs.stat(path.join(pki, PKI_STORE_FILES.privateKey))).mode & 0o777, 0o600);
    assert.deepEqual(stored.trustedCertificates.map((c) => c.der.toString("base64")), [(await fs.readFile(gds.caCertificateFile, "utf8")).replace(/-----[A-Z ]+-----|\s/g, "")]);

    // A node-opcua server on the folder, with its defaults: own/certs/certificate.pem and own/private/private_key.pem.
    const manager = new OPCUACertificateManager({ rootFolder: pki, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
    await manager.initialize();
    const server = new OPCUAServer({
      port: 0,
      host: "127.0.0.1",
      nodeset_filename: [nodesets.standard],
      serverInfo: { applicationUri: uri, productUri: "urn:e2e", applicationName: { text: "agent e2e server" } },
      serverCertificateManager: manager,
      securityModes: [MessageSecurityMode.SignAndEncrypt],
      securityPolicies: [SecurityPolicy.Basic256Sha256],
      allowAnonymous: true,
    });
    await server.start();
    const agent = startAgent(gds, pki, uri, "1s", ["--on-change", `echo "$OPCUA_GDS_CHANGED" >> ${path.join(root, "server-changes.log")}`]);
    try {
      const endpointUrl = server.getEndpointUrl();
      const good = await issuedClient(gds, root, "agent-good");
      const revoked = await issuedClient(gds, root, "agent-revoked");
      assert.equal(await sessionOpens(endpointUrl, good, gds), true, "GDS-issued client accepted");
      assert.equal(await sessionOpens(endpointUrl, revoked, gds), true, "not revoked yet");
      assert.equal(await sessionOpens(endpointUrl, await strangerClient(root), gds), false, "self-signed stranger refused");

      await gds.gds.services.certificates.revokeSerials("test", [revoked.serial], "stolen");
      // The agent sees the new CRL in the trust list, rewrites the folder and runs --on-change;
      // the service it would restart here is the in-process server, told to re-read its folder.
      await waitFor("the agent's trust-list refresh", async () => (await fs.readFile(path.join(root, "server-changes.log"), "utf8")).includes("trust-list"));
      assert.deepEqual((await readPkiStore(pki)).trustedCrls.length, 1);
      await manager.reloadCertificates();
      assert.equal(await sessionOpens(endpointUrl, revoked, gds), false, "revoked client refused");
      assert.equal(await sessionOpens(endpointUrl, good, gds), true, "the others still accepted");

      // A second agent on the same folder refuses to start while the first runs ...
      const second = await cli(agentArgs(gds, pki, uri, ["--once"]));
      assert.equal(second.code, 7, second.stderr);
      assert.match(second.stderr, new RegExp(`locked by process ${agent.child.pid} .*only one agent may write a store`));
      // ... and takes over the lock of one that was killed.
      agent.child.kill("SIGKILL");
      await agent.closed;
      const third = await cli(agentArgs(gds, pki, uri, ["--once"]));
      assert.equal(third.code, 0, third.stderr);
      assert.match(third.stdout, new RegExp(`took over the lock of process ${agent.child.pid}`));
      assert.match(third.stdout, /is current/);
    } finally {
      await killIfRunning(agent);
      await server.shutdown(0);
      await manager.dispose();
    }
  });

  it("killed in the middle of a rewrite, it leaves the previous folder intact; the next run completes the rewrite", async () => {
    // The folder of the first test, current after its last agent run.
    const pki = path.join(root, "pki-server");
    const uri = "urn:e2e:agent:server";
    const before = await snapshot(pki);
    const victim = await issuedClient(gds, root, "agent-victim");
    await gds.gds.services.certificates.revokeSerials("test", [victim.serial], "changes the CRL");

    // --verify runs on the complete staged folder just before the swap: the agent is killed there.
    const marker = path.join(root, "verify.pid");
    const agent = spawnCli(agentArgs(gds, pki, uri, ["--once", "--verify", `echo $$ > ${marker}; exec sleep 60`]));
    running.push(agent);
    const hookPid = Number(await waitFor("the --verify command", () => fs.readFile(marker, "utf8")));
    const staged = (await fs.readdir(root)).filter((n) => n.startsWith("pki-server.new-"));
    assert.equal(staged.length, 1, "the new folder is staged beside the store");
    agent.child.kill("SIGKILL");
    process.kill(hookPid, "SIGKILL");
    await agent.closed;

    assert.deepEqual(await snapshot(pki), before, "the previous store is intact");
    const next = await cli(agentArgs(gds, pki, uri, ["--once"]));
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stdout, /removed the staged folder pki-server\.new-/);
    assert.deepEqual((await readPkiStore(pki)).trustedCrls.map((c) => c.toString("base64")), [(await gds.gds.services.certificates.currentCrl())!.crlDer.toString("base64")]);
    assert.deepEqual((await fs.readdir(root)).filter((n) => n.startsWith("pki-server.")), ["pki-server.agent"]);
  });

  it("--once against an unreachable GDS exits 11 and says so", async () => {
    const unreachable = await cli(["agent", "--gds", "opc.tcp://127.0.0.1:9", "--gds-ca", gds.caCertificateFile, "--pki", path.join(root, "pki-unreachable"), "--application-uri", "urn:e2e:nowhere", "--once"]);
    assert.equal(unreachable.code, 11, unreachable.stderr);
    assert.match(unreachable.stderr, /not reachable/);
  });

  it("renews a short-lived certificate by itself, as ApplicationSelfAdmin, before it expires", async () => {
    const short = path.join(root, "pki-short");
    const renewed = await waitFor(
      "a renewal",
      async () => {
        const m = await manifestOf(short);
        return m && m.certificate.serialNumber !== firstShortSerial ? m : null;
      },
      90_000,
    ).catch((e: Error) => assert.fail(`${e.message}\nagent output:\n${renewingAgent!.stdout()}\n${renewingAgent!.stderr()}`));
    assert.ok(Date.parse(renewed.certificate.notAfter) > Date.now(), "renewed before the old one expired, and valid now");
    assert.match(renewingAgent!.stdout(), /renewing as ApplicationSelfAdmin/);
    assert.match(await fs.readFile(path.join(root, "short-changes.log"), "utf8"), /^certificate$/m);
    const stored = await readPkiStore(short);
    assert.ok(stored.privateKey && stored.certificate, "key and certificate in place");
    await killIfRunning(renewingAgent);
  });
});
