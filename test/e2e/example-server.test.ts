/**
 * Runs examples/gds-provisioned-server (a node-opcua server that pulls its identity from the GDS
 * through `opcua-gds/client`) as a child process against a real GDS (SQLite): it starts with a
 * GDS-issued certificate, accepts a GDS-issued client, refuses a self-signed one, and refuses a
 * revoked client after its next trust-list refresh.
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { readPkiStore } from "../../src/client/index";
import { issuedClient, sessionOpens, strangerClient } from "../helpers/client-identities";
import { ADMIN_PASSWORD, startTestGds, tempDir, type TestGds } from "../helpers/gds-fixture";

/** The example, relative to this compiled test: dist/test/e2e -> examples/. */
const EXAMPLE = path.resolve(__dirname, "../../../examples/gds-provisioned-server/server.js");
const URI = "urn:e2e:example:server";

let gds: TestGds;
let root: string;
let example: ChildProcess | undefined;
let output = "";

/** Waits for `pattern` in the example's output after position `from`. */
async function waitForOutput(pattern: RegExp, from = 0, timeoutMs = 90_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = pattern.exec(output.slice(from));
    if (m) return m;
    if (example?.exitCode !== null) assert.fail(`the example exited (${example?.exitCode}):\n${output}`);
    if (Date.now() > deadline) assert.fail(`no ${pattern} within ${timeoutMs} ms:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("example: a node-opcua server provisioned by the GDS through opcua-gds/client", () => {
  before(async () => {
    gds = await startTestGds("sqlite");
    root = await tempDir("example");
  });
  after(async () => {
    if (example && example.exitCode === null) example.kill("SIGKILL");
    await gds?.stop();
    await fs.rm(root, { recursive: true, force: true });
  });

  it("starts with a GDS-issued identity, accepts only GDS-issued clients, and refuses a revoked one after the next CRL refresh", async () => {
    const pki = path.join(root, "pki");
    example = spawn(process.execPath, [EXAMPLE], {
      cwd: root,
      env: { ...process.env, GDS_URL: gds.endpointUrl, GDS_CA_FILE: gds.caCertificateFile, GDS_USER: "admin", GDS_PASSWORD: ADMIN_PASSWORD, APPLICATION_URI: URI, PKI_DIR: pki, HOST: "127.0.0.1", PORT: "0", CRL_REFRESH_SECONDS: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    example.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
    example.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
    const endpointUrl = (await waitForOutput(/example server listening on (opc\.tcp:\/\/\S+)/))[1];
    assert.match(output, new RegExp(`registered ${URI}`));
    const own = (await readPkiStore(pki)).certificate!;
    assert.equal(own.applicationUri, URI);
    assert.equal(own.issuer, (await readPkiStore(pki)).trustedCertificates[0].subject, "issued by the GDS's CA");

    const good = await issuedClient(gds, root, "example-good");
    const revoked = await issuedClient(gds, root, "example-revoked");
    assert.equal(await sessionOpens(endpointUrl, good, gds), true, "GDS-issued client accepted");
    assert.equal(await sessionOpens(endpointUrl, revoked, gds), true, "not revoked yet");
    assert.equal(await sessionOpens(endpointUrl, await strangerClient(root), gds), false, "self-signed client refused");

    const marker = output.length;
    await gds.gds.services.certificates.revokeSerials("test", [revoked.serial], "stolen");
    await waitForOutput(/trust list changed: certificates and CRLs reloaded/, marker);
    assert.equal(await sessionOpens(endpointUrl, revoked, gds), false, "revoked client refused after the refresh");
    assert.equal(await sessionOpens(endpointUrl, good, gds), true, "the others still accepted");

    example.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => example!.once("exit", (c) => resolve(c)));
    assert.equal(code, 0, output);
  });
});
