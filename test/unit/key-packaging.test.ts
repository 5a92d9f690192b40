import "reflect-metadata";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CertificateAuthority, generateRsaKeyPair } from "../../src/ca/certificate-authority";
import { packagePrivateKey, PKCS12_ITERATIONS, type PrivateKeyFormat } from "../../src/ca/key-packaging";
import { systemClock } from "../../src/domain/clock";
import { GdsError } from "../../src/domain/errors";

const subtle = webcrypto.subtle as unknown as SubtleCrypto;

interface Issued {
  keyDer: Buffer;
  certDer: Buffer;
}

let tmp: string;
let ca: CertificateAuthority;
let leaf: Issued;
let other: Issued;

async function issue(uri: string): Promise<Issued> {
  const keys = await generateRsaKeyPair(2048);
  const certificate = await ca.issueApplicationCertificate(keys.publicKey, {
    subject: "CN=PLC 4, O=Plant 1",
    applicationUri: uri,
    dnsNames: ["plc4.plant1.example"],
    ipAddresses: ["10.1.4.20"],
    lifetimeDays: 30,
    backdateSeconds: 60,
  });
  return { keyDer: Buffer.from(await subtle.exportKey("pkcs8", keys.privateKey)), certDer: Buffer.from(certificate.rawData) };
}

function write(name: string, content: Buffer): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  return file;
}

function openssl(args: string[]) {
  return spawnSync("openssl", args, { encoding: "utf8" });
}

function spki(key: Parameters<typeof createPublicKey>[0]): Buffer {
  return createPublicKey(key).export({ type: "spki", format: "der" });
}

function certSpki(der: Buffer): Buffer {
  return new X509Certificate(der).publicKey.export({ type: "spki", format: "der" });
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g;

function pemBlocks(text: string): { label: string; pem: string }[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1], pem: m[0] }));
}

/** Reads a PFX with `openssl pkcs12 -nodes` (no -legacy) and checks the key matches the leaf certificate. */
function assertOpensslReadsPfx(file: string, password: string): void {
  const r = openssl(["pkcs12", "-in", file, "-passin", `pass:${password}`, "-nodes"]);
  assert.equal(r.status, 0, r.stderr);
  const blocks = pemBlocks(r.stdout);
  const certs = blocks.filter((b) => b.label === "CERTIFICATE").map((b) => new X509Certificate(b.pem));
  const keys = blocks.filter((b) => b.label === "PRIVATE KEY");
  assert.equal(certs.length, 2, "the certificate and the CA certificate");
  assert.equal(keys.length, 1);
  assert.ok(certs.some((c) => c.raw.equals(leaf.certDer)));
  assert.ok(certs.some((c) => c.raw.equals(ca.certificateDer)));
  assert.deepEqual(spki(createPrivateKey(keys[0].pem)), certSpki(leaf.certDer));
  // The key and its certificate are paired by localKeyID.
  const localKeyIds = [...r.stdout.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((m) => m[1].trim());
  assert.equal(localKeyIds.length, 2);
  assert.equal(localKeyIds[0], localKeyIds[1]);
}

/** What `openssl pkcs12 -info` says about the algorithms. */
function pfxInfo(file: string, password: string): string {
  const r = openssl(["pkcs12", "-info", "-noout", "-in", file, "-passin", `pass:${password}`]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout + r.stderr;
}

describe("packagePrivateKey (StartNewKeyPairRequest / FinishRequest private key, OPC 10000-12 §7.9.6)", () => {
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gds-keypack-"));
    ca = await CertificateAuthority.loadOrCreate(path.join(tmp, "ca"), { subject: "CN=Test CA, O=Plant 1", keySize: 2048, lifetimeDays: 30 }, systemClock);
    leaf = await issue("urn:plant1:line4:plc");
    other = await issue("urn:plant1:line5:plc");
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe("PFX", () => {
    it("with a password: OpenSSL 3 reads it without -legacy and shows the certificate, the chain and the matching key", async () => {
      const pfx = await packagePrivateKey("PFX", leaf.keyDer, leaf.certDer, [ca.certificateDer], "s3cret-Pw!");
      const file = write("with-password.pfx", pfx);
      assertOpensslReadsPfx(file, "s3cret-Pw!");
    });

    it("uses AES-256-CBC with PBKDF2/HMAC-SHA256 for the key and a SHA-256 MAC", async () => {
      const pfx = await packagePrivateKey("PFX", leaf.keyDer, leaf.certDer, [ca.certificateDer], "s3cret-Pw!");
      const info = pfxInfo(write("info.pfx", pfx), "s3cret-Pw!");
      assert.match(info, /MAC: sha256/);
      assert.match(info, new RegExp(`Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration ${PKCS12_ITERATIONS}, PRF hmacWithSHA256`));
      assert.doesNotMatch(info, /RC2|3DES|pbeWithSHA1/i);
    });

    it("with a wrong password: OpenSSL refuses it", async () => {
      const pfx = await packagePrivateKey("PFX", leaf.keyDer, leaf.certDer, [ca.certificateDer], "s3cret-Pw!");
      const r = openssl(["pkcs12", "-in", write("wrong.pfx", pfx), "-passin", "pass:wrong", "-nodes"]);
      assert.notEqual(r.status, 0);
      assert.doesNotMatch(r.stdout, /PRIVATE KEY/);
    });

    it('without a password (null): encrypted with "", OpenSSL reads it with an empty password', async () => {
      const pfx = await packagePrivateKey("PFX", leaf.keyDer, leaf.certDer, [ca.certificateDer], null);
      const file = write("no-password.pfx", pfx);
      assertOpensslReadsPfx(file, "");
      assert.match(pfxInfo(file, ""), /MAC: sha256/);
    });

    it("with a non-ASCII password (UTF-8 for PBKDF2, BMPString for the MAC, as OpenSSL does)", async () => {
      const pfx = await packagePrivateKey("PFX", leaf.keyDer, leaf.certDer, [ca.certificateDer], "Pässwört-€");
      assertOpensslReadsPfx(write("utf8.pfx", pfx), "Pässwört-€");
    });

    it("without a chain holds just the certificate and the key", async () => {
      const pfx = await packagePrivateKey("PFX", leaf.keyDer, leaf.certDer, [], "pw");
      const r = openssl(["pkcs12", "-in", write("no-chain.pfx", pfx), "-passin", "pass:pw", "-nodes"]);
      assert.equal(r.status, 0, r.stderr);
      const blocks = pemBlocks(r.stdout);
      assert.deepEqual(blocks.map((b) => b.label).sort(), ["CERTIFICATE", "PRIVATE KEY"]);
    });
  });

  describe("PEM", () => {
    it("with a password: encrypted PKCS#8 (AES-256-CBC), read by openssl pkey -passin", async () => {
      const pem = await packagePrivateKey("PEM", leaf.keyDer, leaf.certDer, [ca.certificateDer], "s3cret-Pw!");
      const text = pem.toString("utf8");
      assert.match(text, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
      const file = write("encrypted.pem", pem);
      const r = openssl(["pkey", "-in", file, "-passin", "pass:s3cret-Pw!"]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(spki(createPrivateKey(r.stdout)), certSpki(leaf.certDer));
      assert.notEqual(openssl(["pkey", "-in", file, "-passin", "pass:wrong"]).status, 0);
      const asn1 = openssl(["asn1parse", "-in", file]);
      assert.match(asn1.stdout, /aes-256-cbc/);
      assert.match(asn1.stdout, /hmacWithSHA256/);
      assert.throws(() => createPrivateKey(text));
      assert.deepEqual(spki(createPrivateKey({ key: text, passphrase: "s3cret-Pw!" })), certSpki(leaf.certDer));
    });

    it("without a password (null or empty): plain PKCS#8 that node:crypto parses", async () => {
      for (const password of [null, ""]) {
        const pem = (await packagePrivateKey("PEM", leaf.keyDer, leaf.certDer, [], password)).toString("utf8");
        assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
        const key = createPrivateKey(pem);
        assert.equal(key.asymmetricKeyType, "rsa");
        assert.deepEqual(spki(key), certSpki(leaf.certDer));
        assert.deepEqual(key.export({ type: "pkcs8", format: "der" }), leaf.keyDer);
      }
    });
  });

  describe("refuses with InvalidArgument", () => {
    const invalid = (part: string) => (e: unknown) => e instanceof GdsError && e.kind === "InvalidArgument" && e.message.includes(part);

    it("an unknown PrivateKeyFormat", async () => {
      for (const format of ["DER", "pfx", "", "PKCS12"]) {
        await assert.rejects(packagePrivateKey(format as PrivateKeyFormat, leaf.keyDer, leaf.certDer, [], "pw"), invalid("PrivateKeyFormat"));
      }
    });

    it("a key that does not belong to the certificate", async () => {
      for (const format of ["PFX", "PEM"] as const) {
        await assert.rejects(packagePrivateKey(format, other.keyDer, leaf.certDer, [], "pw"), invalid("does not belong"));
      }
    });

    it("a key or certificate that does not decode", async () => {
      await assert.rejects(packagePrivateKey("PFX", Buffer.from("garbage"), leaf.certDer, [], "pw"), invalid("private key"));
      await assert.rejects(packagePrivateKey("PFX", leaf.keyDer, Buffer.from("garbage"), [], "pw"), invalid("certificate"));
      await assert.rejects(packagePrivateKey("PFX", leaf.keyDer, leaf.certDer, [Buffer.from("garbage")], "pw"), invalid("issuer certificate 0"));
    });
  });
});
