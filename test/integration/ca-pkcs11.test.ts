/**
 * The CA key in a PKCS#11 token, against SoftHSM2: `init` generates the CA keys inside a fresh
 * token (sensitive, not extractable), a running `opcua-gds start` issues and revokes over
 * SignAndEncrypt with every signature made by the token, the results verify with node:crypto and
 * openssl, the token itself (read here through pkcs11js, not through the product) refuses to give
 * the key out, the data folder holds no CA private key, and the PIN appears in no output, log,
 * audit record or file. Skips, saying why, where SoftHSM2 or pkcs11js is missing.
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CertificateAuthority } from "../../src/ca/certificate-authority";
import { Pkcs11Token } from "../../src/ca/pkcs11-token";
import { CertificateClient } from "../../src/client/directory-client";
import { systemClock } from "../../src/domain/clock";
import { makeCsr, testKeyPair } from "../helpers/certificates";
import { cli, cliJson, killChildren, setCliWorkDir, startServer, stopServer, withDirectory, type RunningServer } from "../helpers/cli";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../helpers/databases";
import { tempDir } from "../helpers/gds-fixture";
import { certifyKey, makeOfflineRoot, signRequest } from "../helpers/offline-root";
import { serverRecord } from "../helpers/records";

// dist/test/integration -> test-devices (outside dist)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { findSoftHsmLibrary } = require(path.resolve(__dirname, "../../../test-devices/softhsm.js")) as { findSoftHsmLibrary(): string | null };

const GROUP_TYPES = [
  ["DefaultApplicationGroup", "RsaSha256ApplicationCertificateType"],
  ["DefaultHttpsGroup", "HttpsCertificateType"],
  ["DefaultUserTokenGroup", "UserCertificateType"],
] as const;
const ADMIN = { userName: "admin", password: `admin-${randomBytes(6).toString("hex")}` };
/** Random, so that finding it anywhere is proof of a leak and not a coincidence. */
const PIN = `pin-${randomBytes(8).toString("hex")}`;
const SO_PIN = `so-${randomBytes(8).toString("hex")}`;

/** The part of pkcs11js this test reads the token with (an optional dependency: typed here). */
interface Pkcs11 {
  load(path: string): void;
  close(): void;
  C_Initialize(): void;
  C_Finalize(): void;
  C_GetSlotList(present: boolean): Buffer[];
  C_GetTokenInfo(slot: Buffer): { label: string };
  C_OpenSession(slot: Buffer, flags: number): Buffer;
  C_Login(session: Buffer, user: number, pin: string): void;
  C_FindObjectsInit(session: Buffer, template: { type: number; value?: unknown }[]): void;
  C_FindObjects(session: Buffer, max: number): Buffer[];
  C_FindObjectsFinal(session: Buffer): void;
  C_GetAttributeValue(session: Buffer, object: Buffer, template: { type: number }[]): { type: number; value: Buffer }[];
  C_GenerateKey(session: Buffer, mechanism: { mechanism: number }, template: { type: number; value?: unknown }[]): Buffer;
  C_GenerateKeyPair(session: Buffer, mechanism: { mechanism: number }, publicTemplate: { type: number; value?: unknown }[], privateTemplate: { type: number; value?: unknown }[]): { publicKey: Buffer; privateKey: Buffer };
  C_WrapKey(session: Buffer, mechanism: { mechanism: number }, wrappingKey: Buffer, key: Buffer, out: Buffer): Buffer;
}
type Pkcs11Module = { PKCS11: new () => Pkcs11 } & Record<string, number>;

function loadPkcs11js(): Pkcs11Module | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("pkcs11js") as Pkcs11Module;
  } catch {
    return null;
  }
}

const library = findSoftHsmLibrary();
const pkcs11js = loadPkcs11js();
const skip = !library
  ? "SoftHSM2 is not installed (test-devices/softhsm.js installs the Debian package softhsm2 when run as root with apt-get)"
  : !pkcs11js
    ? "pkcs11js is not installed (an optional dependency with a native addon: npm install needs a C++ compiler)"
    : false;
if (skip) process.stdout.write(`# skipping the PKCS#11 CA tests: ${skip}\n`);

/** What one token key says about itself through the token's own interface. */
interface KeyFacts {
  sensitive: boolean;
  extractable: boolean;
  neverExtractable: boolean;
  alwaysSensitive: boolean;
  canSign: boolean;
  modulusBits: number;
  /** The CKR_ code of reading the private exponent, or "read" if it could be read. */
  readPrivateExponent: string;
  /** The CKR_ code of wrapping the key out under an AES key, or "wrapped" if it could be. */
  wrap: string;
}

function ckr(e: unknown): string {
  return /^(CKR_[A-Z_]+)/.exec((e as Error).message)?.[1] ?? `not a PKCS#11 error: ${(e as Error).message}`;
}

/** Runs `work` on a logged-in session of the token, opened through pkcs11js in this process, independently of the product. */
function withTokenSession<T>(conf: string, tokenLabel: string, work: (p: Pkcs11, session: Buffer, k: Pkcs11Module) => T): T {
  const k = pkcs11js as Pkcs11Module;
  process.env.SOFTHSM2_CONF = conf;
  const p = new k.PKCS11();
  p.load(library as string);
  p.C_Initialize();
  try {
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === tokenLabel);
    assert.ok(slot, `token ${tokenLabel} is there`);
    const session = p.C_OpenSession(slot, k.CKF_SERIAL_SESSION | k.CKF_RW_SESSION);
    p.C_Login(session, k.CKU_USER, PIN);
    return work(p, session, k);
  } finally {
    p.C_Finalize();
    p.close();
  }
}

/** What the token's administrator does with their own tools: an RSA-2048 key pair in the token; returns its SPKI. */
function generateTokenKey(conf: string, tokenLabel: string, label: string, extractable: boolean): Buffer {
  return withTokenSession(conf, tokenLabel, (p, session, k) => {
    const common = [
      { type: k.CKA_TOKEN, value: true },
      { type: k.CKA_LABEL, value: label },
    ];
    const keys = p.C_GenerateKeyPair(
      session,
      { mechanism: k.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [...common, { type: k.CKA_VERIFY, value: true }, { type: k.CKA_MODULUS_BITS, value: 2048 }, { type: k.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }],
      [...common, { type: k.CKA_PRIVATE, value: true }, { type: k.CKA_SIGN, value: true }, { type: k.CKA_SENSITIVE, value: true }, { type: k.CKA_EXTRACTABLE, value: extractable }],
    );
    const [n, e] = p.C_GetAttributeValue(session, keys.publicKey, [{ type: k.CKA_MODULUS }, { type: k.CKA_PUBLIC_EXPONENT }]).map((a) => a.value.toString("base64url"));
    return createPublicKey({ key: { kty: "RSA", n, e }, format: "jwk" }).export({ type: "spki", format: "der" });
  });
}

/** Reads what the token says about the private keys labelled `labels`. */
function readToken(conf: string, tokenLabel: string, labels: string[]): Map<string, KeyFacts> {
  return withTokenSession(conf, tokenLabel, (p, session, k) => {
    const wrappingKey = p.C_GenerateKey(session, { mechanism: k.CKM_AES_KEY_GEN }, [
      { type: k.CKA_CLASS, value: k.CKO_SECRET_KEY },
      { type: k.CKA_VALUE_LEN, value: 32 },
      { type: k.CKA_TOKEN, value: false },
      { type: k.CKA_WRAP, value: true },
    ]);
    const facts = new Map<string, KeyFacts>();
    for (const label of labels) {
      p.C_FindObjectsInit(session, [
        { type: k.CKA_CLASS, value: k.CKO_PRIVATE_KEY },
        { type: k.CKA_LABEL, value: label },
      ]);
      const keys = p.C_FindObjects(session, 5);
      p.C_FindObjectsFinal(session);
      assert.equal(keys.length, 1, `exactly one private key labelled ${label} in the token`);
      const [sensitive, extractable, neverExtractable, alwaysSensitive, canSign] = p
        .C_GetAttributeValue(session, keys[0], [{ type: k.CKA_SENSITIVE }, { type: k.CKA_EXTRACTABLE }, { type: k.CKA_NEVER_EXTRACTABLE }, { type: k.CKA_ALWAYS_SENSITIVE }, { type: k.CKA_SIGN }])
        .map((a) => a.value[0] === 1);
      const [modulus] = p.C_GetAttributeValue(session, keys[0], [{ type: k.CKA_MODULUS }]);
      let readPrivateExponent = "read";
      try {
        p.C_GetAttributeValue(session, keys[0], [{ type: k.CKA_PRIVATE_EXPONENT }]);
      } catch (e) {
        readPrivateExponent = ckr(e);
      }
      let wrap = "wrapped";
      try {
        p.C_WrapKey(session, { mechanism: k.CKM_AES_KEY_WRAP_PAD }, wrappingKey, keys[0], Buffer.alloc(4096));
      } catch (e) {
        wrap = ckr(e);
      }
      facts.set(label, { sensitive, extractable, neverExtractable, alwaysSensitive, canSign, modulusBits: modulus.value.length * 8, readPrivateExponent, wrap });
    }
    return facts;
  });
}

/** Every regular file under `dir`. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

function openssl(args: string[]): string {
  const r = spawnSync("openssl", args);
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr.toString()}`);
  return `${r.stdout.toString()}${r.stderr.toString()}`;
}

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) assert.fail(`no ${what} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("CA key in a PKCS#11 token (SoftHSM2)", { skip }, () => {
  let root: string;
  let conf: string;

  before(async () => {
    root = await tempDir("pkcs11");
    setCliWorkDir(root);
    // A token folder of its own: the machine's SoftHSM2 tokens are never touched.
    await fs.mkdir(path.join(root, "tokens"), { mode: 0o700 });
    conf = path.join(root, "softhsm2.conf");
    await fs.writeFile(conf, `directories.tokendir = ${path.join(root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    for (const name of [...BACKENDS, "admin"]) {
      execFileSync("softhsm2-util", ["--init-token", "--free", "--label", `gds-${name}`, "--pin", PIN, "--so-pin", SO_PIN], { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: "ignore" });
    }
  });

  after(async () => {
    killChildren();
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  /** The environment of a GDS whose CA keys are in the token of `backend`. */
  function tokenEnv(backend: string, pin: Record<string, string> = { OPCUA_GDS_CA_PKCS11_PIN: PIN }): Record<string, string> {
    return { SOFTHSM2_CONF: conf, OPCUA_GDS_CA_PKCS11_MODULE: library as string, OPCUA_GDS_CA_PKCS11_TOKEN: `gds-${backend}`, OPCUA_GDS_ADMIN_PASSWORD: ADMIN.password, ...pin };
  }

  it("a wrong PIN stops init with a message naming the variable to set, and the PIN is not in it", async () => {
    const dataDir = path.join(root, "wrong-pin");
    const wrongPin = `wrong-${randomBytes(6).toString("hex")}`;
    const r = await cli(["init", "--data", dataDir], { env: tokenEnv("sqlite", { OPCUA_GDS_CA_PKCS11_PIN: wrongPin }) });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refused the PIN: set OPCUA_GDS_CA_PKCS11_PIN/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(wrongPin), "the wrong PIN is printed");
    const keyFiles = (await filesUnder(dataDir).catch(() => [])).filter((f) => f.endsWith(".key.pem"));
    assert.deepEqual(keyFiles, [], "no key file written instead");
  });

  for (const backend of BACKENDS) {
    it(`${backend}: init generates the CA keys inside the token; start issues and revokes over SignAndEncrypt with them; the token refuses to give them out; no CA key file and no PIN anywhere`, { timeout: 600_000 }, async () => {
      const dataDir = path.join(root, `data-${backend}`);
      const pkiRoot = path.join(root, `client-pki-${backend}`);
      const database: TestDatabase = await createTestDatabase(backend);
      const pinFile = path.join(root, `pin-${backend}`);
      await fs.writeFile(pinFile, `${PIN}\n`, { mode: 0o600 });
      const outputs: string[] = [];
      let server: RunningServer | undefined;
      try {
        const dbArgs = database.url ? ["--db", database.url] : [];
        const init = await cliJson<{ caCertificateFile: string }>(["init", "--data", dataDir, ...dbArgs, "--json"], { env: tokenEnv(backend) });
        outputs.push(JSON.stringify(init));

        // Every CA folder names its key in the token and holds no key file.
        const references = new Map<string, { token: string; label: string; id: string }>();
        for (const [group, type] of GROUP_TYPES) {
          const folder = path.join(dataDir, "ca", group, type);
          const reference = JSON.parse(await fs.readFile(path.join(folder, "ca.key.pkcs11.json"), "utf8")) as { token: string; label: string; id: string };
          assert.equal(reference.token, `gds-${backend}`);
          references.set(group, reference);
          await assert.rejects(fs.access(path.join(folder, "ca.key.pem")), "a CA key file beside the token key");
        }

        // The PIN from a file this time; `start` as an operator runs it.
        server = await startServer(["--data", dataDir, ...dbArgs, "--port", "0", "--host", "127.0.0.1"], { env: tokenEnv(backend, { OPCUA_GDS_CA_PKCS11_PIN_FILE: pinFile }) });
        const folder = path.join(dataDir, "ca", "DefaultApplicationGroup", "RsaSha256ApplicationCertificateType");
        const caPem = await fs.readFile(path.join(folder, "ca.cert.pem"), "utf8");
        const ca = new X509Certificate(caPem);
        assert.ok(ca.verify(ca.publicKey), "the self-signed CA certificate verifies with its own key (signed in the token)");

        const { keys } = await testKeyPair();
        const issued = await withDirectory(server.endpointUrl, dataDir, pkiRoot, ADMIN, async (d) => {
          const c = new CertificateClient(d);
          // Several at once: the token's signing sessions must keep each request's names and serial apart.
          const records = Array.from({ length: 6 }, (_, i) => serverRecord(`hsm-${backend}-${i}`));
          const appIds: string[] = [];
          for (const record of records) appIds.push(await d.registerApplication(record));
          const uris = records.map((r) => r.applicationUri);
          const requests = await Promise.all(uris.map(async (uri, i) => c.startSigningRequest(appIds[i], await makeCsr(keys, { uri, subject: `CN=${uri}` }))));
          const done = await Promise.all(requests.map((id, i) => c.finishRequest(appIds[i], id)));
          const certificates = done.map((f) => new X509Certificate(f.certificate));
          certificates.forEach((cert, i) => {
            assert.ok(cert.verify(ca.publicKey), `certificate ${i} verifies against the CA certificate (node:crypto)`);
            assert.ok(cert.checkIssued(ca));
            assert.match(cert.subjectAltName ?? "", new RegExp(`URI:${uris[i]}`), `certificate ${i} names its own application`);
          });
          assert.equal(new Set(certificates.map((cert) => cert.serialNumber)).size, certificates.length, "every serial differs");
          await c.revokeCertificate(appIds[0], done[0].certificate);
          return { revokedSerial: certificates[0].serialNumber };
        });

        // The CRL the server re-signed (in the token) after the revocation verifies against the CA.
        const crlFile = path.join(folder, "ca.crl.pem");
        const crlText = await waitFor("CRL listing the revoked serial", async () => {
          const text = openssl(["crl", "-in", crlFile, "-noout", "-text"]);
          return text.replace(/\s/g, "").toUpperCase().includes(`SerialNumber:${issued.revokedSerial}`.toUpperCase()) ? text : null;
        });
        assert.match(crlText, /CRL Number/);
        assert.match(openssl(["crl", "-in", crlFile, "-CAfile", path.join(folder, "ca.cert.pem"), "-noout"]), /verify OK/);

        const stopped = await stopServer(server);
        server = undefined;
        outputs.push(stopped.stdout, stopped.stderr);
        assert.equal(stopped.code, 0, `the server exits 0 on SIGTERM\n${stopped.stderr}`);

        // The token, asked directly: each CA key is there, sensitive and never extractable, and will not come out.
        const facts = readToken(conf, `gds-${backend}`, [...references.values()].map((r) => r.label));
        for (const [group, reference] of references) {
          const f = facts.get(reference.label) as KeyFacts;
          assert.equal(f.sensitive, true, `${group}: CKA_SENSITIVE`);
          assert.equal(f.extractable, false, `${group}: CKA_EXTRACTABLE`);
          assert.equal(f.neverExtractable, true, `${group}: CKA_NEVER_EXTRACTABLE`);
          assert.equal(f.alwaysSensitive, true, `${group}: CKA_ALWAYS_SENSITIVE`);
          assert.equal(f.canSign, true, `${group}: CKA_SIGN`);
          assert.equal(f.modulusBits, 2048, `${group}: RSA-2048 (OPCUA_GDS_CA_KEY_SIZE default)`);
          assert.equal(f.readPrivateExponent, "CKR_ATTRIBUTE_SENSITIVE", `${group}: reading the private exponent`);
          assert.equal(f.wrap, "CKR_KEY_UNEXTRACTABLE", `${group}: wrapping the key out of the token`);
        }

        // No private key in the data folder belongs to any CA certificate; the PIN is in no file.
        const caKeys: Buffer[] = [];
        for (const [group, type] of GROUP_TYPES) {
          caKeys.push(new X509Certificate(await fs.readFile(path.join(dataDir, "ca", group, type, "ca.cert.pem"))).publicKey.export({ type: "spki", format: "der" }));
        }
        for (const file of await filesUnder(dataDir)) {
          const content = await fs.readFile(file);
          assert.ok(!content.includes(PIN), `the PIN is in ${path.relative(dataDir, file)}`);
          const text = content.toString("latin1");
          if (!/PRIVATE KEY-----/.test(text)) continue;
          const spki = createPublicKey(createPrivateKey(text)).export({ type: "spki", format: "der" });
          assert.ok(!caKeys.some((k) => k.equals(spki)), `${path.relative(dataDir, file)} holds a CA private key`);
        }

        // Audit trail, `ca show --json` and every output of the run: no PIN.
        const show = await cliJson<{ keyStorage: { kind: string; token: string; label: string } }[]>(["ca", "show", "--data", dataDir, "--json"], { env: tokenEnv(backend) });
        assert.deepEqual(show.map((d) => d.keyStorage.kind), ["pkcs11", "pkcs11", "pkcs11"]);
        outputs.push(JSON.stringify(show));
        const audit = await cliJson<{ action: string }[]>(["audit", "--data", dataDir, ...dbArgs, "--json"], { env: tokenEnv(backend) });
        assert.ok(audit.some((r) => /revoke/i.test(r.action)), "the revocation is audited");
        outputs.push(JSON.stringify(audit));
        for (const text of outputs) assert.ok(!text.includes(PIN), "the PIN is in the output, the log or the audit trail");
      } finally {
        if (server) await stopServer(server).catch(() => undefined);
        await database.drop();
      }
    });
  }

  it("ca csr generates the pending key in the token and ca install makes it the CA; ca import --pkcs11-key takes a key the token's administrator made, and refuses an extractable one", { timeout: 600_000 }, async () => {
    const dataDir = path.join(root, "data-admin");
    const env = tokenEnv("admin");
    await cliJson(["init", "--data", dataDir, "--json"], { env });
    const offlineRoot = await makeOfflineRoot();
    const rootFile = path.join(root, "offline-root.pem");
    await fs.writeFile(rootFile, offlineRoot.certificate.toString("pem"));

    // A subordinate CA whose key is generated in the token for the request.
    const csrFile = path.join(root, "gds-ca.csr");
    const csr = await cli(["ca", "csr", "--data", dataDir, "--out", csrFile], { env });
    assert.equal(csr.code, 0, csr.stderr);
    const folder = path.join(dataDir, "ca", "DefaultApplicationGroup", "RsaSha256ApplicationCertificateType");
    const pending = JSON.parse(await fs.readFile(path.join(folder, "ca.pending.key.pkcs11.json"), "utf8")) as { label: string };
    await assert.rejects(fs.access(path.join(folder, "ca.pending.key.pem")), "a pending key file beside the token key");
    const signed = await signRequest(offlineRoot, await fs.readFile(csrFile, "utf8"), true);
    const signedFile = path.join(root, "gds-ca.pem");
    await fs.writeFile(signedFile, signed.toString("pem"));
    const installed = await cliJson<{ kind: string; keyStorage: { kind: string; label: string }; serverCertificateReissued: boolean }>(["ca", "install", signedFile, "--chain", rootFile, "--data", dataDir, "--json"], { env });
    assert.equal(installed.kind, "subordinate");
    assert.deepEqual(installed.keyStorage, { kind: "pkcs11", token: "gds-admin", label: pending.label });
    assert.equal(installed.serverCertificateReissued, true);
    await assert.rejects(fs.access(path.join(folder, "ca.pending.key.pkcs11.json")), "the pending reference is gone once installed");
    // The GDS's own certificate, issued again by the subordinate (signed in the token), chains to the offline root.
    const serverPem = path.join(dataDir, "server-pki", "own", "certs", "gds-server.pem");
    assert.match(openssl(["verify", "-CAfile", rootFile, "-untrusted", path.join(folder, "ca.cert.pem"), serverPem]), /OK/);

    // A key the token's administrator made, certified by the root for the HTTPS group.
    const adminSpki = generateTokenKey(conf, "gds-admin", "plant1-https-ca", false);
    const httpsCa = await certifyKey(offlineRoot, "CN=Plant 1 HTTPS CA, O=Plant 1", new Uint8Array(adminSpki), true);
    const httpsFile = path.join(root, "https-ca.pem");
    await fs.writeFile(httpsFile, httpsCa.toString("pem"));
    const imported = await cliJson<{ keyStorage: { kind: string; label: string } }>(["ca", "import", "--group", "DefaultHttpsGroup", "--cert", httpsFile, "--chain", rootFile, "--pkcs11-key", "plant1-https-ca", "--data", dataDir, "--json"], { env });
    assert.deepEqual(imported.keyStorage, { kind: "pkcs11", token: "gds-admin", label: "plant1-https-ca" });
    assert.ok(!(await filesUnder(path.join(dataDir, "ca", "DefaultHttpsGroup"))).some((f) => path.basename(f) === "ca.key.pem"), "the HTTPS group kept a key file");

    // An extractable key could be wrapped out of the token: refused, and the group's CA stays as it was.
    const weakSpki = generateTokenKey(conf, "gds-admin", "plant1-weak", true);
    const weakFile = path.join(root, "weak-ca.pem");
    await fs.writeFile(weakFile, (await certifyKey(offlineRoot, "CN=Weak CA", new Uint8Array(weakSpki), true)).toString("pem"));
    const refused = await cli(["ca", "import", "--group", "DefaultUserTokenGroup", "--cert", weakFile, "--chain", rootFile, "--pkcs11-key", "plant1-weak", "--data", dataDir], { env });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /is extractable \(CKA_EXTRACTABLE\)/);
    const missing = await cli(["ca", "import", "--group", "DefaultUserTokenGroup", "--cert", weakFile, "--pkcs11-key", "no-such-key", "--data", dataDir], { env });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /holds no private key labelled "no-such-key"/);

    // Every CA loads again from the token (keys match their certificates), and ca show says where each key is.
    await cliJson(["init", "--data", dataDir, "--json"], { env });
    const show = await cliJson<{ group: string; kind: string; keyStorage: { kind: string; label: string } }[]>(["ca", "show", "--data", dataDir, "--json"], { env });
    assert.deepEqual(
      show.map((d) => [d.group, d.kind, d.keyStorage.label]),
      [
        ["DefaultApplicationGroup", "subordinate", pending.label],
        ["DefaultHttpsGroup", "subordinate", "plant1-https-ca"],
        ["DefaultUserTokenGroup", "self-signed", "opcua-gds/DefaultUserTokenGroup/UserCertificateType"],
      ],
    );
    const facts = readToken(conf, "gds-admin", [pending.label]);
    assert.equal(facts.get(pending.label)?.extractable, false, "the key ca csr generated is not extractable");
    assert.equal(facts.get(pending.label)?.wrap, "CKR_KEY_UNEXTRACTABLE");
  });

  it("40 application certificates signed at once through the token's session pool each carry their own URI and serial and verify against the CA", { timeout: 300_000 }, async () => {
    process.env.SOFTHSM2_CONF = conf;
    const token = Pkcs11Token.open({ module: library as string, token: "gds-admin", pin: PIN });
    try {
      const ca = await CertificateAuthority.loadOrCreate(path.join(root, "pool-ca"), { subject: "CN=Pool CA", keySize: 2048, lifetimeDays: 30, token, keyLabel: "pool-ca" }, systemClock);
      assert.deepEqual(ca.keyStorage, { kind: "pkcs11", token: "gds-admin", label: "pool-ca" });
      const caCert = new X509Certificate(ca.certificateDer);
      const { keys } = await testKeyPair();
      const uris = Array.from({ length: 40 }, (_, i) => `urn:plant1:pool${i}`);
      const issued = await Promise.all(
        uris.map((applicationUri) => ca.issueApplicationCertificateDer(keys.publicKey, { subject: `CN=${applicationUri}`, applicationUri, dnsNames: [], ipAddresses: [], lifetimeDays: 30, backdateSeconds: 60 })),
      );
      issued.forEach((item, i) => {
        const cert = new X509Certificate(item.der);
        assert.ok(cert.verify(caCert.publicKey), `certificate ${i} verifies`);
        assert.equal(cert.subjectAltName, `URI:${uris[i]}`);
        assert.equal(cert.serialNumber.toLowerCase(), item.serialHex);
      });
      assert.equal(new Set(issued.map((item) => item.serialHex)).size, issued.length, "every serial differs");
      const crl = await ca.signCrl([{ serialHex: issued[0].serialHex, revokedAtMs: Date.now() }], 1, Date.now(), Date.now() + 86400_000);
      assert.ok(await crl.verify({ publicKey: ca.certificate.publicKey }), "the CRL verifies");
    } finally {
      token.close();
    }
  });
});
