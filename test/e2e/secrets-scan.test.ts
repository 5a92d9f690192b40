/**
 * No key, password or private-key material in logs, audit records, command output or the database
 * (issue 7, secrets): a realistic session against `opcua-gds start` (a child process) with known
 * secrets — the admin password, a user's password, the CA passphrase, device passwords (per device
 * and the fleet default), an X509 user key for a device, the password of a StartNewKeyPairRequest
 * over OPC UA and of an export, a wrong password at login — then everything the run left readable
 * is scanned for each secret (as is, base64, hex) and for the private keys the test knows (the
 * generated key pair, the CA key, the GDS's own key, the data folder's secret.key).
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import { createPrivateKey, type KeyObject } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { openServices } from "../../src/app";
import { CertificateClient } from "../../src/client/directory-client";
import { resolveConfig } from "../../src/config/config";
import { selfSignedApplicationCertificate } from "../helpers/certificates";
import { caFolder, cli, killChildren, setCliWorkDir, startServer, stopServer, withDirectory, type CliResult, type RunningServer } from "../helpers/cli";
import { createTestDatabase, type Backend, type TestDatabase } from "../helpers/databases";
import { tempDir } from "../helpers/gds-fixture";
import { binaryNeedle, describeLeaks, privateKeyNeedles, scanForSecrets, secretNeedle, type Haystack, type Needle } from "../helpers/secret-scan";
import { startSimulator, type Simulator } from "../helpers/simulator";

const SECRETS = {
  adminPassword: "Adm1n-pw-7f3a9c21e4",
  userPassword: "Op3rator-pw-5b8d0a7c",
  wrongPassword: "Wr0ng-guess-e91c44f2",
  caPassphrase: "CA-passphrase-2d6e8b13",
  devicePassword: "D3vice-pw-a4c7e920",
  fleetPassword: "Fleet-default-pw-83bf17",
  keyPairPassword: "KeyPair-pw-0c9d5e66",
  exportPassword: "Export-pw-6a1f3b98",
};
const DEVICE_USER = "admin";

interface DeviceJson {
  applicationId: string;
}

// One backend: both store the same columns written by the same code; the SQLite file is scanned byte for byte.
for (const backend of ["sqlite"] as Backend[]) {
  describe(`no secret in logs, audit records, --json output or the database (${backend})`, { timeout: 600_000 }, () => {
    let root: string;
    let database: TestDatabase;
    let dataDir: string;
    let server: RunningServer | undefined;
    let simulator: (Simulator & { basePort: number }) | undefined;
    const haystacks: Haystack[] = [];
    /** The private keys the test knows, to check that the scan recognises them. */
    const secretKeys: KeyObject[] = [];
    const needles: Needle[] = [];

    const env = {
      OPCUA_GDS_ADMIN_PASSWORD: SECRETS.adminPassword,
      OPCUA_GDS_CA_PASSPHRASE: SECRETS.caPassphrase,
      OPCUA_GDS_PUSH_USER: DEVICE_USER,
      OPCUA_GDS_PUSH_PASSWORD: SECRETS.fleetPassword,
      USER: "secrets-operator",
    };
    const data = () => ["--data", dataDir, ...(database.url ? ["--db", database.url] : [])];
    /** Runs a command on the GDS's folder and database; its output joins what is scanned. */
    const gds = async (args: string[], input?: string): Promise<CliResult> => {
      // The CA commands work on the data folder alone.
      const r = await cli([...args, ...(args[0] === "ca" ? ["--data", dataDir] : data())], { env, input, timeoutMs: 300_000 });
      haystacks.push({ where: `stdout of opcua-gds ${args.join(" ")}`, text: r.stdout }, { where: `stderr of opcua-gds ${args.join(" ")}`, text: r.stderr });
      return r;
    };
    const gdsOk = async (args: string[], input?: string): Promise<CliResult> => {
      const r = await gds(args, input);
      assert.equal(r.code, 0, `opcua-gds ${args.join(" ")} exited with ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r;
    };
    const gdsJson = async <T>(args: string[], input?: string): Promise<T> => JSON.parse((await gdsOk([...args, "--json"], input)).stdout) as T;

    before(async () => {
      root = await tempDir("secrets-scan");
      setCliWorkDir(root);
      database = await createTestDatabase(backend);
      dataDir = path.join(root, "data");
      // An X509 user identity that the devices accept: its key is a secret too.
      const userIdentity = await selfSignedApplicationCertificate("urn:plant1:secrets:push-user", root, "push-user");
      const userKeyPem = await fs.readFile(userIdentity.privateKeyFile, "utf8");
      needles.push(...privateKeyNeedles("the X509 push user's private key", userKeyPem));
      [server, simulator] = await Promise.all([
        startServer([...data(), "--port", "0", "--host", "127.0.0.1"], { env }),
        startSimulator({ count: 2, dataDir: path.join(root, "devices"), password: SECRETS.devicePassword, userCertificateFiles: [userIdentity.certificateFile] }),
      ]);

      // Users: one added with a password, a login with it, and a failed login with a wrong one (audited as LoginFailed).
      await gdsOk(["user", "add", "operator", "--roles", "DiscoveryAdmin", "--password-stdin"], `${SECRETS.userPassword}\n`);
      const admin = { userName: "admin", password: SECRETS.adminPassword };
      await withDirectory(server.endpointUrl, dataDir, path.join(root, "pki-operator"), { userName: "operator", password: SECRETS.userPassword }, (d) => d.findApplications("urn:none"));
      await assert.rejects(withDirectory(server.endpointUrl, dataDir, path.join(root, "pki-wrong"), { userName: "operator", password: SECRETS.wrongPassword }, (d) => d.findApplications("urn:none")));

      // A key pair the GDS generates, delivered as encrypted PEM over OPC UA, then exported in a bundle.
      const keyPair = await withDirectory(server.endpointUrl, dataDir, path.join(root, "pki-admin"), admin, async (d) => {
        const applicationId = await d.registerApplication({
          applicationUri: "urn:plant1:secrets:plc",
          applicationType: 0,
          applicationNames: [{ locale: "en", text: "Secrets PLC" }],
          productUri: "urn:vendor:plc",
          discoveryUrls: ["opc.tcp://plc-secrets.plant1:4840"],
          serverCapabilities: ["DA"],
        });
        const certificates = new CertificateClient(d);
        const requestId = await certificates.startNewKeyPairRequest(applicationId, { subjectName: "CN=Secrets PLC/O=plant1", domainNames: ["plc-secrets.plant1"], privateKeyFormat: "PEM", password: SECRETS.keyPairPassword });
        const finished = await certificates.finishRequest(applicationId, requestId);
        for (const device of simulator!.devices) {
          (device as typeof device & { applicationId?: string }).applicationId = await d.registerApplication({
            applicationUri: device.applicationUri,
            applicationType: 0,
            applicationNames: [{ locale: "en", text: `Simulated device ${device.index}` }],
            productUri: "urn:opcua-gds:simulator",
            discoveryUrls: [device.endpointUrl],
            serverCapabilities: [],
          });
        }
        return { applicationId, privateKey: finished.privateKey };
      });
      assert.ok(keyPair.privateKey, "FinishRequest returned the generated key");
      const deliveredPem = keyPair.privateKey.toString("utf8");
      needles.push(...privateKeyNeedles("the generated key pair's private key", deliveredPem, SECRETS.keyPairPassword));
      await gdsJson(["export", keyPair.applicationId, "--format", "pem", "--out", path.join(root, "bundle"), "--password-stdin"], SECRETS.exportPassword);

      // Push: device 0 with its own password, device 1 with the fleet default (wrong for it).
      const [device0, device1] = simulator.devices.map((d) => (d as typeof d & { applicationId: string }).applicationId);
      await gdsJson(["push", "credentials", device0, "--user", DEVICE_USER, "--password-stdin"], `${SECRETS.devicePassword}\n`);
      const pushed = await gds(["push", "all", device0, device1, "--trust-device-certificate", "--retries", "0", "--json"]);
      const outcomes = (JSON.parse(pushed.stdout) as { outcomes: Array<{ applicationUri: string; result: string; reason: string }> }).outcomes;
      const outcomeOf = (index: number) => outcomes.find((o) => o.applicationUri === simulator!.devices[index].applicationUri);
      assert.equal(outcomeOf(0)?.result, "ok", pushed.stdout);
      assert.match(outcomeOf(1)?.reason ?? "", /refused/, "the fleet default is refused by device 1");
      // Device 1 then gets its push with the X509 user identity.
      await gdsJson(["push", "credentials", device1, "--x509-certificate", userIdentity.certificateFile, "--x509-key", userIdentity.privateKeyFile]);
      const [viaX509] = (await gdsJson<{ outcomes: Array<{ result: string; reason: string }> }>(["push", "trustlist", device1])).outcomes;
      assert.equal(viaX509.result, "ok", viaX509.reason);

      // What operators look at, as JSON and as text.
      for (const args of [
        ["app", "list"],
        ["app", "show", keyPair.applicationId],
        ["app", "show", device0],
        ["user", "list"],
        ["request", "list"],
        ["cert", "list"],
        ["status"],
        ["audit"],
        ["push", "show", device0],
        ["push", "show", device1],
        ["push", "jobs"],
        ["onboarding", "status"],
        ["ca", "show"],
      ]) {
        await gdsOk(args);
        await gdsOk([...args, "--json"]);
      }
      await gdsOk(["push", "rejected", device0, "--json"]);

      const stopped = await stopServer(server);
      server = undefined;
      haystacks.push({ where: "stdout of opcua-gds start", text: stopped.stdout }, { where: "stderr of opcua-gds start", text: stopped.stderr });
      await simulator.stop();
      haystacks.push({ where: "stdout of opcua-gds simulate", text: simulator.process.stdout() }, { where: "stderr of opcua-gds simulate", text: simulator.process.stderr() });
      simulator = undefined;

      // The database: every row of every table, text as is, binary columns in every encoding.
      const services = await openServices(resolveConfig({ data: dataDir, db: database.url }, env));
      try {
        const ds = services.db.dataSource;
        const tables: Array<{ name: string }> =
          backend === "postgres"
            ? await ds.query("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
            : await ds.query("SELECT name FROM sqlite_master WHERE type = 'table'");
        for (const { name } of tables) {
          const rows: Array<Record<string, unknown>> = await ds.query(`SELECT * FROM "${name}"`);
          rows.forEach((row, i) => {
            for (const [column, value] of Object.entries(row)) {
              if (value === null || value === undefined) continue;
              const text = Buffer.isBuffer(value) ? `${value.toString("latin1")}\n${value.toString("base64")}\n${value.toString("hex")}` : String(value);
              haystacks.push({ where: `database ${name}.${column} (row ${i + 1})`, text });
            }
          });
        }
        assert.ok(tables.some((t) => t.name === "audit_records" || /audit/.test(t.name)), "the audit table is among those dumped");
      } finally {
        await services.close();
      }

      // The keys the test can read: the CA key (stored encrypted), the GDS's own key, the data folder's sealing key.
      const caKeyPem = await fs.readFile(path.join(caFolder(dataDir), "ca.key.pem"), "utf8");
      assert.match(caKeyPem, /ENCRYPTED PRIVATE KEY/, "OPCUA_GDS_CA_PASSPHRASE encrypts the CA key");
      needles.push(...privateKeyNeedles("the CA key", caKeyPem, SECRETS.caPassphrase));
      const ownKeyPem = await fs.readFile(path.join(dataDir, "server-pki", "own", "private", "private_key.pem"), "utf8");
      needles.push(...privateKeyNeedles("the GDS's own key", ownKeyPem));
      const sealingKey = (await fs.readFile(path.join(dataDir, "secret.key"), "utf8")).trim();
      needles.push({ name: "secret.key", forms: [{ encoding: "plain", text: sealingKey }, ...binaryNeedle("secret.key", Buffer.from(sealingKey, "base64")).forms.slice(1)] });
      for (const [name, value] of Object.entries(SECRETS)) needles.push(secretNeedle(name, value));
      secretKeys.push(createPrivateKey({ key: deliveredPem, passphrase: SECRETS.keyPairPassword }), createPrivateKey({ key: caKeyPem, passphrase: SECRETS.caPassphrase }), createPrivateKey(userKeyPem), createPrivateKey(ownKeyPem));
    });

    after(async () => {
      if (server) await stopServer(server).catch(() => undefined);
      await simulator?.stop();
      killChildren();
      await database?.drop();
      await fs.rm(root, { recursive: true, force: true });
    });

    it("the scan covers the server's and the devices' output, every command's output, every audit record and the database", (t) => {
      t.diagnostic(`${needles.length} secrets looked for in ${haystacks.length} places, ${haystacks.reduce((n, h) => n + h.text.length, 0)} characters`);
      const where = haystacks.map((h) => h.where);
      for (const expected of ["stdout of opcua-gds start", "stderr of opcua-gds start", "stdout of opcua-gds audit --json", "stdout of opcua-gds push jobs --json"]) assert.ok(where.includes(expected), expected);
      assert.ok(where.some((w) => /^database .*audit.*\.details/.test(w)), "audit records' details");
      assert.ok(where.some((w) => /^database push_settings\.sealed_password/.test(w)), "sealed device passwords");
      assert.ok(needles.length >= 8 + 4, `${needles.length} secrets looked for`);
    });

    it("the scan finds each of those secrets where it is known to be: in key files, and base64 or hex inside JSON", async () => {
      const controls: Haystack[] = [
        { where: "the CA key file", text: await fs.readFile(path.join(caFolder(dataDir), "ca.key.pem"), "utf8") },
        { where: "the exported bundle's key", text: await fs.readFile(path.join(root, "bundle", "private-key.pem"), "utf8") },
        ...secretKeys.map((k, i) => ({ where: `key ${i} as unencrypted PKCS#8, wrapped at 76 columns in JSON`, text: JSON.stringify({ key: k.export({ type: "pkcs8", format: "der" }).toString("base64").replace(/.{76}/g, "$&\n") }) })),
        ...secretKeys.map((k, i) => ({ where: `key ${i} as hex`, text: k.export({ type: "pkcs8", format: "der" }).toString("hex") })),
        ...Object.values(SECRETS).map((v) => ({ where: `a secret in base64 and hex in JSON`, text: JSON.stringify({ a: Buffer.from(v).toString("base64"), b: Buffer.from(v).toString("hex") }) })),
      ];
      const found = new Set(scanForSecrets(needles, controls).map((l) => l.secret));
      const missed = needles.map((n) => n.name).filter((name) => !found.has(name) && !/as stored/.test(name) && name !== "secret.key");
      assert.deepEqual(missed, [], "every secret is recognised");
      assert.ok(found.has("a PEM private key block"), "PEM private-key blocks are recognised");
    });

    it("no secret, no private key and no PEM private-key block appears anywhere", () => {
      const leaks = scanForSecrets(needles, haystacks);
      assert.equal(leaks.length, 0, `secrets leaked:\n${describeLeaks(leaks)}`);
    });
  });
}
