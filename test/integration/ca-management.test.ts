/**
 * CA management: passphrase-protected CA keys, configurable CA key size, and a subordinate CA under
 * a plant's offline root driven through the built CLI (`ca csr`, `ca install`, `ca import`,
 * `ca show`), checked with openssl as an independent verifier.
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash, createPublicKey, webcrypto } from "node:crypto";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import * as x509 from "@peculiar/x509";
import { CaRegistry } from "../../src/ca/ca-registry";
import { CertificateAuthority, generateRsaKeyPair, privateKeyToPem } from "../../src/ca/certificate-authority";
import { buildProgram } from "../../src/cli/main";
import { resolveConfig } from "../../src/config/config";
import { dataPaths } from "../../src/config/data-folder";
import { systemClock } from "../../src/domain/clock";
import { GdsError, isGdsError } from "../../src/domain/errors";
import { makeOfflineRoot, signRequest, type OfflineRoot } from "../helpers/offline-root";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const GROUP = "DefaultApplicationGroup";
const TYPE = "RsaSha256ApplicationCertificateType";
const PASSPHRASE = "correct horse battery staple 42";
const CA_OPTIONS = { subject: "CN=Test CA, O=Plant 1", keySize: 2048 as const, lifetimeDays: 30 };

/** dist/test/integration -> dist/src/cli/main.js */
const MAIN = path.resolve(__dirname, "../../src/cli/main.js");

let root: string;

function caFolder(dataDir: string): string {
  return path.join(dataDir, "ca", GROUP, TYPE);
}

async function mode(file: string): Promise<number> {
  return (await fs.stat(file)).mode & 0o777;
}

async function firstLine(file: string): Promise<string> {
  return (await fs.readFile(file, "utf8")).split("\n")[0];
}

/** Asserts that `work` rejects with a GdsError of `kind` whose message matches `pattern`, and returns the message. */
async function rejectsWith(work: Promise<unknown>, kind: GdsError["kind"], pattern: RegExp): Promise<string> {
  try {
    await work;
  } catch (e) {
    assert.ok(isGdsError(e, kind), `expected GdsError ${kind}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    assert.match(e.message, pattern);
    return e.message;
  }
  assert.fail(`expected a GdsError ${kind}`);
}

// ---------------------------------------------------------------------------------------------
// The CLI, as a user runs it.

/** The built CLI, spawned as a user runs it. */
const cliEntry = MAIN;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `opcua-gds ...` to its end with only the given GDS variables in its environment. */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(base)) if (name.startsWith("OPCUA_GDS_")) delete base[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliEntry, ...args], { cwd: root, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function cliOk(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await cli(args, env);
  assert.equal(r.code, 0, `opcua-gds ${args.join(" ")} exited with ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

async function openssl(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)("openssl", args);
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? 1, output: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

function pem(cert: x509.X509Certificate): string {
  return `${cert.toString("pem")}\n`;
}

async function issueLeaf(ca: CertificateAuthority, n: number): Promise<x509.X509Certificate> {
  const keys = await generateRsaKeyPair(2048);
  return ca.issueApplicationCertificate(keys.publicKey, {
    subject: `CN=Line ${n} PLC, O=Plant 1`,
    applicationUri: `urn:plant1:line${n}:plc`,
    dnsNames: [`plc${n}.plant1`],
    ipAddresses: ["10.0.0.4"],
    lifetimeDays: 30,
    backdateSeconds: 60,
  });
}

interface CaShowJson {
  group: string;
  certificateType: string;
  present: boolean;
  subject?: string;
  issuer?: string;
  serialNumber?: string;
  notBefore?: string;
  notAfter?: string;
  thumbprint?: string;
  keyEncrypted?: boolean;
  kind?: string;
  chain?: Array<{ subject: string; thumbprint: string }>;
  pendingKey: boolean;
}

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "opcua-gds-ca-management-"));
});

after(async () => {
  if (root) await fs.rm(root, { recursive: true, force: true });
});

describe("CA private key protected by OPCUA_GDS_CA_PASSPHRASE", () => {
  it("a CA created with a passphrase keeps its key as ENCRYPTED PRIVATE KEY with mode 0600, and loads and signs with that passphrase", async () => {
    const folder = path.join(root, "encrypted-ca");
    const created = await CertificateAuthority.loadOrCreate(folder, { ...CA_OPTIONS, passphrase: PASSPHRASE }, systemClock);
    const keyFile = CertificateAuthority.keyFile(folder);
    assert.equal(await firstLine(keyFile), "-----BEGIN ENCRYPTED PRIVATE KEY-----");
    assert.equal(await mode(keyFile), 0o600);
    assert.equal(created.keyEncrypted, true);
    assert.ok(!(await fs.readFile(keyFile, "utf8")).includes(PASSPHRASE));

    const loaded = await CertificateAuthority.load(folder, systemClock, PASSPHRASE);
    const leaf = await issueLeaf(loaded, 1);
    assert.ok(await leaf.verify({ publicKey: loaded.certificate.publicKey, signatureOnly: true }), "a certificate issued after loading does not verify with the CA");
    assert.deepEqual(loaded.chainDer, [], "a self-signed CA has no chain");
  });

  it("loading an encrypted CA key without the passphrase, or with a wrong one, is a Configuration error naming OPCUA_GDS_CA_PASSPHRASE and never the passphrase", async () => {
    const folder = path.join(root, "encrypted-ca-2");
    await CertificateAuthority.loadOrCreate(folder, { ...CA_OPTIONS, passphrase: PASSPHRASE }, systemClock);

    const missing = await rejectsWith(CertificateAuthority.load(folder, systemClock), "Configuration", /set OPCUA_GDS_CA_PASSPHRASE/);
    assert.match(missing, /encrypted/);
    const wrongPassphrase = "not-the-passphrase";
    const wrong = await rejectsWith(CertificateAuthority.load(folder, systemClock, wrongPassphrase), "Configuration", /set OPCUA_GDS_CA_PASSPHRASE/);
    for (const message of [missing, wrong]) {
      assert.ok(!message.includes(PASSPHRASE) && !message.includes(wrongPassphrase), `a message carries a passphrase: ${message}`);
      assert.doesNotMatch(message, /BEGIN|MII/, `a message carries key material: ${message}`);
    }
    // Also through CaRegistry, with the passphrase taken from the configuration.
    const dataDir = path.join(root, "registry-encrypted");
    await CaRegistry.loadOrCreate(resolveConfig({ data: dataDir }, { OPCUA_GDS_CA_PASSPHRASE: PASSPHRASE }), dataPaths(dataDir), systemClock);
    const reloaded = await CaRegistry.loadOrCreate(resolveConfig({ data: dataDir }, { OPCUA_GDS_CA_PASSPHRASE: PASSPHRASE }), dataPaths(dataDir), systemClock);
    assert.equal(reloaded.authority(GROUP, TYPE).keyEncrypted, true);
    await rejectsWith(CaRegistry.loadOrCreate(resolveConfig({ data: dataDir }, {}), dataPaths(dataDir), systemClock), "Configuration", /OPCUA_GDS_CA_PASSPHRASE/);
    await rejectsWith(CaRegistry.loadOrCreate(resolveConfig({ data: dataDir }, { OPCUA_GDS_CA_PASSPHRASE: wrongPassphrase }), dataPaths(dataDir), systemClock), "Configuration", /OPCUA_GDS_CA_PASSPHRASE/);
  });

  it("a plaintext CA key is re-encrypted in place (mode 0600, same key) when loaded with a passphrase", async () => {
    const dataDir = path.join(root, "re-encrypt");
    const paths = dataPaths(dataDir);
    const plain = await CaRegistry.loadOrCreate(resolveConfig({ data: dataDir }, {}), paths, systemClock);
    const keyFile = CertificateAuthority.keyFile(paths.caFolder());
    assert.equal(await firstLine(keyFile), "-----BEGIN PRIVATE KEY-----");
    assert.equal(plain.authority(GROUP, TYPE).keyEncrypted, false);

    const config = resolveConfig({ data: dataDir }, { OPCUA_GDS_CA_PASSPHRASE: PASSPHRASE });
    assert.equal(config.caPassphrase, PASSPHRASE);
    const encrypted = await CaRegistry.loadOrCreate(config, paths, systemClock);
    for (const group of ["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"]) {
      const folder = path.join(dataDir, "ca", group);
      const [type] = await fs.readdir(folder);
      const file = CertificateAuthority.keyFile(path.join(folder, type));
      assert.equal(await firstLine(file), "-----BEGIN ENCRYPTED PRIVATE KEY-----", `${group} key not re-encrypted`);
      assert.equal(await mode(file), 0o600, `mode of the re-encrypted ${group} key`);
    }
    const ca = encrypted.authority(GROUP, TYPE);
    assert.equal(ca.keyEncrypted, true);
    assert.equal(ca.certificate.serialNumber, plain.authority(GROUP, TYPE).certificate.serialNumber, "re-encryption replaced the CA");
    const leaf = await issueLeaf(ca, 2);
    assert.ok(await leaf.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true }), "the re-encrypted key is not the CA's key");
    await rejectsWith(CertificateAuthority.load(paths.caFolder(), systemClock), "Configuration", /OPCUA_GDS_CA_PASSPHRASE/);
    assert.deepEqual((await fs.readdir(paths.caFolder())).filter((f) => f.endsWith(".tmp")), [], "a temporary key file was left behind");
  });

  it("a CA key that does not belong to its certificate, or a ca.chain.pem that does not hold its issuer, is refused at load with a Configuration error (an interrupted replacement)", async () => {
    const a = path.join(root, "pair-a");
    const b = path.join(root, "pair-b");
    // Same subject, another key: only the signature tells them apart.
    const caA = await CertificateAuthority.loadOrCreate(a, CA_OPTIONS, systemClock);
    await CertificateAuthority.loadOrCreate(b, CA_OPTIONS, systemClock);
    await fs.writeFile(CertificateAuthority.chainFile(b), pem(caA.certificate));
    await rejectsWith(CertificateAuthority.load(b, systemClock), "Configuration", /does not start with the issuer/);
    await fs.copyFile(CertificateAuthority.keyFile(b), CertificateAuthority.keyFile(a));
    await rejectsWith(CertificateAuthority.load(a, systemClock), "Configuration", /does not belong to the certificate/);
  });
});

describe("CA key size from OPCUA_GDS_CA_KEY_SIZE", () => {
  it("OPCUA_GDS_CA_KEY_SIZE=3072 gives every new CA a 3072-bit RSA key; unset means 2048", async () => {
    const config = resolveConfig({ data: path.join(root, "rsa3072") }, { OPCUA_GDS_CA_KEY_SIZE: "3072" });
    assert.equal(config.caKeySize, 3072);
    const registry = await CaRegistry.loadOrCreate(config, dataPaths(config.dataDir), systemClock);
    for (const [group, type] of [
      ["DefaultApplicationGroup", "RsaSha256ApplicationCertificateType"],
      ["DefaultHttpsGroup", "HttpsCertificateType"],
      ["DefaultUserTokenGroup", "UserCertificateType"],
    ]) {
      const key = createPublicKey(registry.authority(group, type).certificate.toString("pem"));
      assert.equal(key.asymmetricKeyDetails?.modulusLength, 3072, `${group} CA key size`);
    }
    assert.equal(resolveConfig({}, {}).caKeySize, 2048);
    assert.equal(resolveConfig({}, { OPCUA_GDS_CA_KEY_SIZE: "4096" }).caKeySize, 4096);
  });

  it("any other OPCUA_GDS_CA_KEY_SIZE is a Configuration error that names the allowed sizes", () => {
    for (const value of ["1024", "2047", "8192", "big", "3072.0"]) {
      assert.throws(
        () => resolveConfig({}, { OPCUA_GDS_CA_KEY_SIZE: value }),
        (e: unknown) => isGdsError(e, "Configuration") && /OPCUA_GDS_CA_KEY_SIZE/.test(e.message) && /2048, 3072, 4096/.test(e.message),
        `OPCUA_GDS_CA_KEY_SIZE=${value} was accepted`,
      );
    }
  });
});

describe("subordinate CA under an offline root (built CLI: ca csr, ca install, ca import, ca show)", () => {
  let offlineRoot: OfflineRoot;
  let rootPem: string;

  before(async () => {
    assert.ok(existsSync(MAIN), `the CLI is not built: ${MAIN} (run npx tsc -p tsconfig.json)`);
    offlineRoot = await makeOfflineRoot();
    rootPem = path.join(root, "root.pem");
    await fs.writeFile(rootPem, pem(offlineRoot.certificate));
  });

  it("ca csr, signing by the offline root, ca install --chain: ca show says subordinate, and openssl verifies a certificate issued afterwards and the GDS's own certificate up to the root", async () => {
    const dataDir = path.join(root, "subordinate");
    const env = { OPCUA_GDS_CA_PASSPHRASE: PASSPHRASE };
    const folder = caFolder(dataDir);
    await cliOk(["init", "--data", dataDir], env);
    const selfSignedCert = await fs.readFile(path.join(folder, "ca.cert.pem"), "utf8");
    const selfSignedKey = await fs.readFile(path.join(folder, "ca.key.pem"), "utf8");

    const csrFile = path.join(root, "gds-ca.csr.pem");
    const csr = await cliOk(["ca", "csr", "--data", dataDir, "--out", csrFile], env);
    assert.match(csr.stdout, /ca install/, "ca csr does not say what to do next");
    const pendingKey = path.join(folder, "ca.pending.key.pem");
    assert.equal(await mode(pendingKey), 0o600, "mode of the pending key");
    assert.equal(await firstLine(pendingKey), "-----BEGIN ENCRYPTED PRIVATE KEY-----", "the pending key is not encrypted with the CA passphrase");
    const request = new x509.Pkcs10CertificateRequest(await fs.readFile(csrFile, "utf8"));
    const requestedBasic = request.getExtension("2.5.29.19");
    const requestedKeyUsage = request.getExtension("2.5.29.15");
    assert.ok(requestedBasic && requestedKeyUsage, "the CSR requests no basicConstraints or keyUsage");
    assert.equal(new x509.BasicConstraintsExtension(requestedBasic.rawData).ca, true, "the CSR does not request CA=TRUE");
    const requestedUsage = new x509.KeyUsagesExtension(requestedKeyUsage.rawData).usages;
    assert.ok(requestedUsage & x509.KeyUsageFlags.keyCertSign && requestedUsage & x509.KeyUsageFlags.cRLSign, "the CSR does not request keyCertSign and cRLSign");

    // Asked again (e.g. the file was lost), the request is for the same pending key, on stdout.
    const again = await cliOk(["ca", "csr", "--data", dataDir], env);
    assert.match(again.stdout, /^-----BEGIN CERTIFICATE REQUEST-----/);
    assert.doesNotMatch(again.stdout, /pending key/, "stdout carries more than the PEM");
    assert.deepEqual(Buffer.from(new x509.Pkcs10CertificateRequest(again.stdout).publicKey.rawData), Buffer.from(request.publicKey.rawData), "a second ca csr replaced the pending key");

    const subordinate = await signRequest(offlineRoot, await fs.readFile(csrFile, "utf8"), true);
    const subordinateFile = path.join(root, "gds-ca.signed.pem");
    await fs.writeFile(subordinateFile, pem(subordinate));

    // Without the passphrase nothing is replaced (the new key would otherwise be stored in plaintext).
    const unprotected = await cli(["ca", "install", subordinateFile, "--chain", rootPem, "--data", dataDir]);
    assert.equal(unprotected.code, 5, unprotected.stderr);
    assert.match(unprotected.stderr, /set OPCUA_GDS_CA_PASSPHRASE/);
    assert.equal(await fs.readFile(path.join(folder, "ca.cert.pem"), "utf8"), selfSignedCert);

    const installed = await cliOk(["ca", "install", subordinateFile, "--chain", rootPem, "--data", dataDir, "--json"], env);
    const report = JSON.parse(installed.stdout) as { kind: string; chainLength: number; keyEncrypted: boolean; backupFolder: string; serverCertificateReissued: boolean };
    assert.equal(report.kind, "subordinate");
    assert.equal(report.chainLength, 1);
    assert.equal(report.keyEncrypted, true);
    assert.equal(report.serverCertificateReissued, true);
    assert.ok(!installed.stdout.includes(PASSPHRASE) && !installed.stderr.includes(PASSPHRASE), "install printed the passphrase");

    // The previous CA is kept in a dated backup folder beside the new files.
    assert.equal(path.dirname(report.backupFolder), folder);
    assert.match(path.basename(report.backupFolder), /^backup-\d{8}T\d{6}Z/);
    assert.equal(await fs.readFile(path.join(report.backupFolder, "ca.cert.pem"), "utf8"), selfSignedCert);
    assert.equal(await fs.readFile(path.join(report.backupFolder, "ca.key.pem"), "utf8"), selfSignedKey);
    assert.equal(await mode(path.join(report.backupFolder, "ca.key.pem")), 0o600, "mode of the backed-up key");
    assert.equal(await mode(report.backupFolder), 0o700, "mode of the backup folder");

    // The pending key became ca.key.pem; the chain is kept as ca.chain.pem.
    assert.ok(!existsSync(pendingKey), "the pending key is still there after install");
    assert.equal(await mode(path.join(folder, "ca.key.pem")), 0o600);
    assert.equal(await firstLine(path.join(folder, "ca.key.pem")), "-----BEGIN ENCRYPTED PRIVATE KEY-----");
    assert.equal(new x509.X509Certificate(await fs.readFile(path.join(folder, "ca.cert.pem"), "utf8")).serialNumber, subordinate.serialNumber);
    assert.equal(new x509.X509Certificate(await fs.readFile(path.join(folder, "ca.chain.pem"), "utf8")).serialNumber, offlineRoot.certificate.serialNumber);

    // ca show needs no passphrase.
    const shown = JSON.parse((await cliOk(["ca", "show", "--data", dataDir, "--json"])).stdout) as CaShowJson[];
    const app = shown.find((d) => d.group === GROUP);
    assert.ok(app, JSON.stringify(shown));
    assert.equal(app.kind, "subordinate");
    assert.equal(app.keyEncrypted, true);
    assert.equal(app.subject, subordinate.subject);
    assert.equal(app.issuer, offlineRoot.certificate.subject);
    assert.equal(app.serialNumber, subordinate.serialNumber.toLowerCase());
    assert.equal(app.thumbprint, createHash("sha1").update(Buffer.from(subordinate.rawData)).digest("hex"));
    assert.equal(app.notAfter, subordinate.notAfter.toISOString());
    assert.deepEqual(app.chain?.map((c) => c.subject), [offlineRoot.certificate.subject]);
    assert.equal(app.pendingKey, false);
    assert.equal(shown.find((d) => d.group === "DefaultHttpsGroup")?.kind, "self-signed", "install touched another group");
    const human = await cliOk(["ca", "show", "--data", dataDir]);
    assert.match(human.stdout, /subordinate/);
    assert.match(human.stdout, new RegExp(app.thumbprint!));

    // The GDS signs with the subordinate CA from now on; openssl builds the path to the offline root.
    const registry = await CaRegistry.loadOrCreate(resolveConfig({ data: dataDir }, env), dataPaths(dataDir), systemClock);
    const ca = registry.authority(GROUP, TYPE);
    assert.deepEqual(ca.chainDer, [Buffer.from(offlineRoot.certificate.rawData)], "chainDer is not the offline root");
    const leafFile = path.join(root, "leaf.pem");
    await fs.writeFile(leafFile, pem(await issueLeaf(ca, 4)));
    const caCertFile = path.join(folder, "ca.cert.pem");
    const verified = await openssl(["verify", "-CAfile", rootPem, "-untrusted", caCertFile, leafFile]);
    assert.equal(verified.code, 0, `openssl verify failed:\n${verified.output}`);
    assert.match(verified.output, /: OK/);
    // Without the subordinate CA the path cannot be built: the check above is not vacuous.
    assert.notEqual((await openssl(["verify", "-CAfile", rootPem, leafFile])).code, 0);
    // The GDS's own certificate was issued again by the new CA (the old one went to the backup).
    const server = await openssl(["verify", "-CAfile", rootPem, "-untrusted", caCertFile, dataPaths(dataDir).serverCertificate]);
    assert.equal(server.code, 0, `the GDS's own certificate does not verify up to the root:\n${server.output}`);
    assert.ok(existsSync(path.join(report.backupFolder, "server-pki", "gds-server.pem")), "the previous server certificate is not in the backup");

    // A second init keeps the installed CA; without the passphrase the GDS refuses to start, saying why.
    await cliOk(["init", "--data", dataDir], env);
    assert.equal(new x509.X509Certificate(await fs.readFile(caCertFile, "utf8")).serialNumber, subordinate.serialNumber, "init replaced the installed CA");
    const noPassphrase = await cli(["init", "--data", dataDir]);
    assert.equal(noPassphrase.code, 5, `init without the passphrase: exit ${noPassphrase.code}\n${noPassphrase.stderr}`);
    assert.match(noPassphrase.stderr, /set OPCUA_GDS_CA_PASSPHRASE/);
    const wrong = await cli(["init", "--data", dataDir], { OPCUA_GDS_CA_PASSPHRASE: "wrong passphrase" });
    assert.equal(wrong.code, 5);
    assert.match(wrong.stderr, /OPCUA_GDS_CA_PASSPHRASE/);
    assert.ok(!wrong.stderr.includes("wrong passphrase") && !wrong.stderr.includes(PASSPHRASE), `a passphrase is printed:\n${wrong.stderr}`);
  });

  it("ca install of a certificate that is not a CA certificate fails with a message saying so, and changes nothing", async () => {
    const dataDir = path.join(root, "not-a-ca");
    const folder = caFolder(dataDir);
    await cliOk(["init", "--data", dataDir]);
    const csr = await cliOk(["ca", "csr", "--data", dataDir]);
    const leafFile = path.join(root, "signed-as-leaf.pem");
    await fs.writeFile(leafFile, pem(await signRequest(offlineRoot, csr.stdout, false)));
    const before = await fs.readFile(path.join(folder, "ca.cert.pem"), "utf8");

    const r = await cli(["ca", "install", leafFile, "--chain", rootPem, "--data", dataDir]);
    assert.notEqual(r.code, 0, "a leaf certificate was installed as the CA");
    assert.match(r.stderr, /not a CA certificate/);
    assert.match(r.stderr, /CA=TRUE/);
    assert.equal(await fs.readFile(path.join(folder, "ca.cert.pem"), "utf8"), before, "the CA certificate changed");
    assert.ok(existsSync(path.join(folder, "ca.pending.key.pem")), "the pending key is gone");
    assert.deepEqual((await fs.readdir(folder)).filter((f) => f.startsWith("backup-")), [], "a failed install left a backup folder");

    // A CA certificate from another root does not chain to the given chain.
    const otherRoot = await makeOfflineRoot("CN=Some Other Root");
    const otherFile = path.join(root, "signed-by-other.pem");
    await fs.writeFile(otherFile, pem(await signRequest(otherRoot, csr.stdout, true)));
    const unchained = await cli(["ca", "install", otherFile, "--chain", rootPem, "--data", dataDir]);
    assert.equal(unchained.code, 2, unchained.stderr);
    assert.match(unchained.stderr, /not signed by any certificate in/);

    // Without a pending key there is nothing to install: the message says to run ca csr.
    const noPending = await cli(["ca", "install", otherFile, "--data", path.join(root, "no-pending")]);
    assert.equal(noPending.code, 3, noPending.stderr);
    assert.match(noPending.stderr, /ca csr/);
  });

  it("ca import of a key that does not belong to the certificate fails with a clear message; a matching pair is imported with a backup", async () => {
    const dataDir = path.join(root, "import");
    const folder = caFolder(dataDir);
    await cliOk(["init", "--data", dataDir]);
    const before = await fs.readFile(path.join(folder, "ca.cert.pem"), "utf8");

    const existing = await makeOfflineRoot("CN=Existing Plant CA, O=Plant 1");
    const strangerKeys = await generateRsaKeyPair(2048);
    const certFile = path.join(root, "existing-ca.pem");
    const keyFile = path.join(root, "existing-ca.key.pem");
    const strangerKeyFile = path.join(root, "stranger.key.pem");
    await fs.writeFile(certFile, pem(existing.certificate));
    await fs.writeFile(keyFile, await privateKeyToPem(existing.keys.privateKey), { mode: 0o600 });
    await fs.writeFile(strangerKeyFile, await privateKeyToPem(strangerKeys.privateKey), { mode: 0o600 });

    const mismatched = await cli(["ca", "import", "--cert", certFile, "--key", strangerKeyFile, "--data", dataDir]);
    assert.equal(mismatched.code, 2, `exit code of a mismatched import\n${mismatched.stderr}`);
    assert.match(mismatched.stderr, /does not belong to the certificate/);
    assert.ok(mismatched.stderr.includes(strangerKeyFile) && mismatched.stderr.includes(certFile), `the message does not name both files:\n${mismatched.stderr}`);
    assert.equal(await fs.readFile(path.join(folder, "ca.cert.pem"), "utf8"), before, "a mismatched import changed the CA");

    const imported = JSON.parse((await cliOk(["ca", "import", "--cert", certFile, "--key", keyFile, "--data", dataDir, "--json"])).stdout) as { kind: string; backupFolder: string; keyEncrypted: boolean };
    assert.equal(imported.kind, "self-signed");
    assert.equal(imported.keyEncrypted, false);
    assert.equal(await fs.readFile(path.join(imported.backupFolder, "ca.cert.pem"), "utf8"), before);
    assert.equal(await mode(path.join(folder, "ca.key.pem")), 0o600);
    const shown = JSON.parse((await cliOk(["ca", "show", "--data", dataDir, "--json"])).stdout) as CaShowJson[];
    assert.equal(shown.find((d) => d.group === GROUP)?.subject, existing.certificate.subject);
  });

  it("ca show of a folder that was never initialised, and an unknown --group, exit non-zero saying what to do", async () => {
    const missing = path.join(root, "never-initialised");
    const r = await cli(["ca", "show", "--data", missing]);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /init/);
    assert.ok(!existsSync(missing), "ca show created the data folder");
    const badGroup = await cli(["ca", "csr", "--group", "NoSuchGroup", "--data", path.join(root, "bad-group")]);
    assert.equal(badGroup.code, 2);
    assert.match(badGroup.stderr, /DefaultApplicationGroup/);
  });
});
