/**
 * End-to-end tests of the built `opcua-gds` command line, run the way a user runs it: each command
 * is a child process `node dist/src/cli/main.js ...`, and a real OPC UA client talks to `start`.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createTestDatabase } from "../helpers/databases";
import { serverRecord } from "../helpers/records";
import { CLI, caFolder, cli, cliJson, cliOk, killChildren, killIfRunning, setCliWorkDir, startServer, stopServer, withDirectory, type RunningServer } from "../helpers/cli";

const KNOWN_ROLES = ["SecurityAdmin", "DiscoveryAdmin", "CertificateAuthorityAdmin", "RegistrationAuthorityAdmin"];
const ENGINEER_PASSWORD = "engineer-e2e-password";

let root: string;

/** Any key or string value anywhere in `value` that contains `needle`. */
function fieldsContaining(value: unknown, needle: string, where = "$"): string[] {
  const hits: string[] = [];
  if (typeof value === "string") {
    if (value.toLowerCase().includes(needle)) hits.push(where);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => hits.push(...fieldsContaining(v, needle, `${where}[${i}]`)));
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k.toLowerCase().includes(needle)) hits.push(`${where}.${k}`);
      hits.push(...fieldsContaining(v, needle, `${where}.${k}`));
    }
  }
  return hits;
}

interface UserJson {
  name: string;
  roles: string[];
  [key: string]: unknown;
}

interface AppJson {
  applicationId: string;
  applicationUri: string;
  applicationType: string;
  discoveryUrls: string[];
  [key: string]: unknown;
}

/**
 * init, a DiscoveryAdmin "engineer", start in the background, register over OPC UA, see and
 * remove the record with the CLI while the server runs, then SIGTERM.
 */
async function startRegisterStop(dataDir: string, dbArgs: string[], record: ReturnType<typeof serverRecord>): Promise<void> {
  await cliOk(["init", "--data", dataDir, ...dbArgs]);
  await cliOk(["user", "add", "engineer", "--roles", "DiscoveryAdmin", "--password-stdin", "--data", dataDir, ...dbArgs], { input: `${ENGINEER_PASSWORD}\n` });

  let server: RunningServer | undefined;
  try {
    server = await startServer(["--data", dataDir, ...dbArgs, "--port", "0", "--host", "127.0.0.1"]);
    assert.match(server.endpointUrl, /^opc\.tcp:\/\/127\.0\.0\.1:\d+/);
    const pkiRoot = await fs.mkdtemp(path.join(root, "client-pki-"));

    await withDirectory(server.endpointUrl, dataDir, pkiRoot, { userName: "engineer", password: ENGINEER_PASSWORD }, async (d) => {
      const id = await d.registerApplication(record);
      assert.match(id, /^ns=1;g=[0-9a-f-]{36}$/i);

      // A second process on the same database sees what the server wrote.
      const listed = await cliJson<AppJson[]>(["app", "list", "--json", "--data", dataDir, ...dbArgs]);
      const mine = listed.filter((a) => a.applicationUri === record.applicationUri);
      assert.equal(mine.length, 1, JSON.stringify(listed));
      assert.equal(mine[0].applicationId.toLowerCase(), id.toLowerCase());

      const shown = await cliJson<AppJson>(["app", "show", id, "--json", "--data", dataDir, ...dbArgs]);
      assert.equal(shown.applicationId.toLowerCase(), id.toLowerCase());
      assert.equal(shown.applicationUri, record.applicationUri);
      assert.equal(shown.applicationType, "Server");
      assert.deepEqual(shown.discoveryUrls, record.discoveryUrls);

      const unregistered = await cliOk(["app", "unregister", id, "--data", dataDir, ...dbArgs]);
      assert.match(unregistered.stdout, /unregistered/);

      // The server, which keeps its own connection to the database, no longer finds it.
      assert.deepEqual(await d.findApplications(record.applicationUri), []);
      const after = await cliJson<AppJson[]>(["app", "list", "--json", "--data", dataDir, ...dbArgs]);
      assert.equal(after.filter((a) => a.applicationUri === record.applicationUri).length, 0);
    });

    const stopped = await stopServer(server);
    assert.equal(stopped.signal, null, `start ended by signal ${stopped.signal}\nstderr: ${stopped.stderr}`);
    assert.equal(stopped.code, 0, `start exited with ${stopped.code}\nstdout: ${stopped.stdout}\nstderr: ${stopped.stderr}`);
    assert.ok(stopped.ms < 10_000, `start took ${stopped.ms} ms to stop`);
    assert.match(stopped.stdout, /^stopped$/m);
  } finally {
    await killIfRunning(server);
  }
}

describe("opcua-gds CLI (built, end to end)", () => {
  let shared: string;
  let sharedReady: Promise<void> | undefined;

  /** One data folder initialised once for the tests that only need an existing folder. */
  function sharedData(): Promise<string> {
    sharedReady ??= cliOk(["init", "--data", shared], { env: { OPCUA_GDS_ADMIN_PASSWORD: "shared-admin-password" } }).then(() => undefined);
    return sharedReady.then(() => shared);
  }

  before(async () => {
    assert.ok(existsSync(CLI), `the CLI is not built: ${CLI} (run npx tsc -p tsconfig.json)`);
    root = await fs.mkdtemp(path.join(os.tmpdir(), "opcua-gds-e2e-cli-"));
    setCliWorkDir(root);
    shared = path.join(root, "shared");
  });

  after(async () => {
    killChildren();
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  it("init creates the data folder with private keys readable only by the owner, prints a generated admin password once, and is idempotent", async () => {
    const dir = path.join(root, "init");
    const caKey = path.join(caFolder(dir), "ca.key.pem");
    const serverKey = path.join(dir, "server-pki", "own", "private", "private_key.pem");

    const first = await cliOk(["init", "--data", dir]);
    assert.ok(existsSync(path.join(dir, "gds.sqlite")), "gds.sqlite is missing");
    assert.equal((await fs.stat(caKey)).mode & 0o777, 0o600, "mode of the CA key");
    assert.equal((await fs.stat(serverKey)).mode & 0o777, 0o600, "mode of the server key");
    assert.ok(existsSync(path.join(caFolder(dir), "ca.cert.pem")), "ca.cert.pem is missing");

    const m = /password: (\S+)/.exec(first.stdout);
    assert.ok(m, `no generated password in:\n${first.stdout}`);
    const password = m[1];
    assert.ok(password.length >= 8, `password "${password}" is too short`);
    assert.equal(first.stdout.split(password).length - 1, 1, "the password is printed exactly once");
    assert.ok(!first.stderr.includes(password), "the password is not printed on stderr");

    const caKeyBefore = await fs.readFile(caKey, "utf8");
    const serverKeyBefore = await fs.readFile(serverKey, "utf8");
    const second = await cliOk(["init", "--data", dir]);
    assert.equal(await fs.readFile(caKey, "utf8"), caKeyBefore, "the CA key changed on a second init");
    assert.equal(await fs.readFile(serverKey, "utf8"), serverKeyBefore, "the server key changed on a second init");
    assert.doesNotMatch(second.stdout, /password:/, `second init printed a password:\n${second.stdout}`);
    assert.ok(!second.stdout.includes(password) && !second.stderr.includes(password), "second init printed the password again");
    assert.equal((await fs.stat(caKey)).mode & 0o777, 0o600, "mode of the CA key after a second init");
  });

  it("user add with --password-stdin, user list --json without password hashes, user remove; unknown roles and users are refused", async () => {
    const dir = await sharedData();

    const added = await cliOk(["user", "add", "operator1", "--roles", "DiscoveryAdmin", "--password-stdin", "--data", dir], { input: "operator1-password\n" });
    assert.match(added.stdout, /operator1/);
    assert.doesNotMatch(added.stdout, /operator1-password/, "the piped password is echoed");

    const users = await cliJson<UserJson[]>(["user", "list", "--json", "--data", dir]);
    const op = users.find((u) => u.name === "operator1");
    assert.ok(op, `operator1 not listed: ${JSON.stringify(users)}`);
    assert.deepEqual(op.roles, ["DiscoveryAdmin"]);
    assert.deepEqual(fieldsContaining(users, "scrypt"), [], "user list shows a password hash");
    assert.deepEqual(fieldsContaining(users, "operator1-password"), [], "user list shows the password");
    assert.deepEqual(fieldsContaining(users, "passwordhash"), [], "user list has a password hash field");

    const removed = await cliOk(["user", "remove", "operator1", "--data", dir]);
    assert.match(removed.stdout, /operator1/);
    const afterRemove = await cliJson<UserJson[]>(["user", "list", "--json", "--data", dir]);
    assert.equal(afterRemove.find((u) => u.name === "operator1"), undefined, "operator1 is still listed after remove");

    const badRole = await cli(["user", "add", "operator2", "--roles", "DiscoveryAdmin,Janitor", "--password-stdin", "--data", dir], { input: "operator2-password\n" });
    assert.notEqual(badRole.code, 0, "an unknown role is accepted");
    assert.match(badRole.stderr, /Janitor/);
    for (const role of KNOWN_ROLES) assert.ok(badRole.stderr.includes(role), `stderr does not name the role ${role}:\n${badRole.stderr}`);
    const afterBadRole = await cliJson<UserJson[]>(["user", "list", "--json", "--data", dir]);
    assert.equal(afterBadRole.find((u) => u.name === "operator2"), undefined, "a user with an unknown role was added");

    const unknownUser = await cli(["user", "remove", "nobody-here", "--data", dir]);
    assert.notEqual(unknownUser.code, 0, "removing an unknown user succeeds");
    assert.match(unknownUser.stderr, /nobody-here/);
  });

  it("--json output of user list and app list is a single JSON document on stdout", async () => {
    const dir = await sharedData();
    for (const args of [
      ["user", "list", "--json", "--data", dir],
      ["app", "list", "--json", "--data", dir],
    ]) {
      const r = await cliOk(args);
      assert.doesNotThrow(() => JSON.parse(r.stdout), `stdout of ${args.join(" ")} is not pure JSON:\n${r.stdout}`);
    }
    const users = await cliJson<UserJson[]>(["user", "list", "--json", "--data", dir]);
    assert.ok(Array.isArray(users));
    assert.ok(users.some((u) => u.name === "admin"), "the initial admin is listed");
    const apps = await cliJson<AppJson[]>(["app", "list", "--json", "--data", dir]);
    assert.deepEqual(apps, []);
  });

  it("start serves SignAndEncrypt on SQLite: a user added by the CLI registers an application, a second CLI process lists, shows and unregisters it, and SIGTERM stops the server with exit code 0", async () => {
    await startRegisterStop(path.join(root, "full"), [], serverRecord("e2e-sqlite"));
  });

  it("app show of a malformed id, a data folder that was never initialised and an out-of-range port exit non-zero with a helpful message", async () => {
    const dir = await sharedData();

    const badId = await cli(["app", "show", "not-an-id", "--data", dir]);
    assert.notEqual(badId.code, 0, "app show not-an-id succeeds");
    assert.match(badId.stderr, /not-an-id/);
    assert.match(badId.stderr, /ns=1;g=<?GUID>?/i, `stderr does not say what an ApplicationId looks like:\n${badId.stderr}`);

    assert.ok(!existsSync("/nonexistent-folder"), "/nonexistent-folder exists on this machine");
    const noData = await cli(["app", "list", "--data", "/nonexistent-folder"]);
    assert.notEqual(noData.code, 0, "app list on a missing data folder succeeds");
    assert.match(noData.stderr, /init/, `stderr does not tell to run init:\n${noData.stderr}`);
    assert.ok(!existsSync("/nonexistent-folder"), "app list created the data folder");

    const neverDir = path.join(root, "bad-port");
    const badPort = await cli(["start", "--port", "99999", "--data", neverDir, "--host", "127.0.0.1"], { timeoutMs: 20_000 });
    assert.notEqual(badPort.code, 0, "start --port 99999 succeeds");
    assert.match(badPort.stderr, /port/i, `stderr does not mention the port:\n${badPort.stderr}`);
    assert.match(badPort.stderr, /99999/);
    assert.ok(!existsSync(neverDir), "start with a bad port created the data folder");
  });

  it("status summarises the fleet (--json is one document); a bad --metrics-port is refused before anything is created", async () => {
    const dir = await sharedData();
    const status = await cliJson<{ applications: number; certificates: Record<string, number>; pendingRequests: number; crls: Array<{ ca: string; crlNumber: number }> }>(["status", "--json", "--data", dir]);
    assert.equal(typeof status.applications, "number");
    assert.deepEqual(Object.keys(status.certificates).sort(), ["expired", "renewalDue", "revoked", "valid"]);
    assert.equal(status.pendingRequests, 0);
    assert.ok(status.crls.some((c) => c.ca === "DefaultApplicationGroup/RsaSha256ApplicationCertificateType" && c.crlNumber >= 1));
    const text = await cliOk(["status", "--data", dir]);
    assert.match(text.stdout, /^applications\s+\d+/m);

    const neverDir = path.join(root, "bad-metrics-port");
    const bad = await cli(["start", "--metrics-port", "http", "--data", neverDir, "--host", "127.0.0.1"], { timeoutMs: 20_000 });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--metrics-port "http" is not a TCP port/);
    assert.ok(!existsSync(neverDir), "start with a bad metrics port created the data folder");
  });

  it("start serves on PostgreSQL (--db postgres://): register over OPC UA, list, show and unregister with the CLI, SIGTERM exits 0", async () => {
    const database = await createTestDatabase("postgres");
    try {
      const dir = path.join(root, "pg");
      await startRegisterStop(dir, ["--db", database.url!], serverRecord("e2e-pg"));
      assert.ok(!existsSync(path.join(dir, "gds.sqlite")), "--db postgres:// still created a SQLite file in the data folder");
    } finally {
      await database.drop();
    }
  });
});
