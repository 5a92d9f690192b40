import "reflect-metadata";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes, webcrypto, X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as x509 from "@peculiar/x509";
import { CertificateAuthority } from "../../src/ca/certificate-authority";
import { CSR_LIMITS, parseCertificateRequest, type ParsedCsr } from "../../src/ca/csr";
import { checkCertificateRequest, DEFAULT_CSR_POLICY, hostsOfDiscoveryUrls, type CsrPolicy, type ParsedCsrFacts } from "../../src/domain/csr-policy";
import { GdsError, isGdsError, type GdsErrorKind } from "../../src/domain/errors";
import { systemClock } from "../../src/domain/clock";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const subtle = webcrypto.subtle as unknown as SubtleCrypto;

const APP_URI = "urn:plant1:line4:plc";
const application = {
  applicationUri: APP_URI,
  discoveryUrls: ["opc.tcp://PLC4.plant1.example:4840/UA", "opc.tcp://10.1.4.20:4840", "opc.tcp://[2001:DB8:0::4]:4840"],
};

type Keys = CryptoKeyPair;
const keyCache = new Map<string, Promise<Keys>>();

/** RSA keys for signing with `hash` (WebCrypto binds the hash to the key). Cached: key generation is slow. */
function rsaKeys(bits: number, hash: "SHA-256" | "SHA-1"): Promise<Keys> {
  const id = `${bits}/${hash}`;
  if (!keyCache.has(id)) {
    keyCache.set(
      id,
      subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", hash, modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]) }, true, [
        "sign",
        "verify",
      ]) as Promise<Keys>,
    );
  }
  return keyCache.get(id)!;
}

interface CsrOptions {
  bits?: number;
  hash?: "SHA-256" | "SHA-1";
  name?: x509.JsonName | string;
  names?: x509.JsonGeneralName[] | null;
  keys?: Keys;
  signingAlgorithm?: Algorithm | EcdsaParams;
}

const DEFAULT_NAMES: x509.JsonGeneralName[] = [
  { type: "url", value: APP_URI },
  { type: "dns", value: "plc4.plant1.example" },
  { type: "ip", value: "10.1.4.20" },
  { type: "ip", value: "2001:db8::4" },
];

async function makeCsr(options: CsrOptions = {}): Promise<Buffer> {
  const hash = options.hash ?? "SHA-256";
  const keys = options.keys ?? (await rsaKeys(options.bits ?? 2048, hash));
  const names = options.names === undefined ? DEFAULT_NAMES : options.names;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.name ?? [{ CN: ["PLC 4"] }, { O: ["Plant 1"] }],
    keys,
    signingAlgorithm: options.signingAlgorithm ?? { name: "RSASSA-PKCS1-v1_5", hash },
    extensions: names ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return Buffer.from(csr.rawData);
}

async function parsed(options: CsrOptions = {}): Promise<ParsedCsr> {
  return parseCertificateRequest(await makeCsr(options));
}

function isKind(kind: GdsErrorKind, messagePart?: string | RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof GdsError, `expected a GdsError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    if (typeof messagePart === "string") assert.ok(e.message.includes(messagePart), `"${e.message}" should mention ${messagePart}`);
    else if (messagePart) assert.match(e.message, messagePart);
    return true;
  };
}

function check(csr: ParsedCsrFacts, policy?: CsrPolicy, app = application) {
  return checkCertificateRequest(csr, app, policy);
}

function checkThrows(csr: ParsedCsrFacts, kind: GdsErrorKind, messagePart?: string | RegExp, policy?: CsrPolicy, app = application): void {
  assert.throws(() => check(csr, policy, app), isKind(kind, messagePart));
}

/** Replaces the last byte of the signature: the DER stays well formed, the signature does not verify. */
function tamperSignature(der: Buffer): Buffer {
  const copy = Buffer.from(der);
  copy[copy.length - 1] ^= 0x01;
  return copy;
}

describe("parseCertificateRequest (PKCS#10, OPC 10000-12 §7.9.4)", () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gds-csr-"));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("reads subject, key, signature and SubjectAltName of an RSA-2048 SHA-256 CSR", async () => {
    const keys = await rsaKeys(2048, "SHA-256");
    const csr = await parsed({ keys });
    assert.equal(csr.subject, "CN=PLC 4, O=Plant 1");
    assert.equal(csr.keyAlgorithm, "RSA");
    assert.equal(csr.keyBits, 2048);
    assert.equal(csr.signatureHash, "SHA-256");
    assert.equal(csr.signatureValid, true);
    assert.deepEqual(csr.uris, [APP_URI]);
    assert.deepEqual(csr.dnsNames, ["plc4.plant1.example"]);
    assert.deepEqual(csr.ipAddresses, ["10.1.4.20", "2001:db8::4"]);
    assert.ok(Buffer.isBuffer(csr.publicKeySpki));
    assert.deepEqual(csr.publicKeySpki, Buffer.from(await subtle.exportKey("spki", keys.publicKey)));
    assert.equal(csr.publicKey.type, "public");
    assert.equal(csr.publicKey.asymmetricKeyType, "rsa");
    assert.deepEqual(csr.publicKey.export({ type: "spki", format: "der" }), csr.publicKeySpki);
  });

  it("gives a public key the CA signs a certificate for", async () => {
    const ca = await CertificateAuthority.loadOrCreate(path.join(tmp, "ca"), { subject: "CN=Test CA, O=Plant 1", keySize: 2048, lifetimeDays: 30 }, systemClock);
    const csr = await parsed();
    const hosts = check(csr);
    const certificate = await ca.issueApplicationCertificate(csr.publicKey, {
      subject: csr.subject,
      applicationUri: csr.uris[0],
      ...hosts,
      lifetimeDays: 30,
      backdateSeconds: 60,
    });
    const node = new X509Certificate(Buffer.from(certificate.rawData));
    assert.ok(node.verify(new X509Certificate(ca.certificateDer).publicKey));
    assert.deepEqual(node.publicKey.export({ type: "spki", format: "der" }), csr.publicKeySpki);
    assert.equal(certificate.subject, csr.subject);
    assert.match(node.subjectAltName ?? "", /URI:urn:plant1:line4:plc/);
    assert.match(node.subjectAltName ?? "", /DNS:plc4\.plant1\.example/);
  });

  it("reports SHA-1 signatures, RSA-1024 keys and CSRs without SubjectAltName as they are", async () => {
    const sha1 = await parsed({ hash: "SHA-1" });
    assert.equal(sha1.signatureHash, "SHA-1");
    assert.equal(sha1.signatureValid, true);
    const small = await parsed({ bits: 1024 });
    assert.equal(small.keyBits, 1024);
    const bare = await parsed({ names: null });
    assert.deepEqual([bare.uris, bare.dnsNames, bare.ipAddresses], [[], [], []]);
  });

  it("reports a signature that does not verify", async () => {
    const csr = await parseCertificateRequest(tamperSignature(await makeCsr()));
    assert.equal(csr.signatureValid, false);
  });

  it("reads EC P-256 CSRs as EC keys of 256 bits", async () => {
    const keys = (await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const csr = await parsed({ keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams });
    assert.equal(csr.keyAlgorithm, "EC");
    assert.equal(csr.keyBits, 256);
    assert.equal(csr.signatureValid, true);
  });

  it("reports MD5 signatures (CSR made by openssl)", async (t) => {
    const key = path.join(tmp, "md5.key");
    const out = path.join(tmp, "md5.der");
    const r = spawnSync("openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", "/CN=md5", "-md5", "-outform", "DER", "-out", out], {
      encoding: "utf8",
    });
    if (r.status !== 0) {
      t.skip(`openssl refused an MD5 CSR: ${r.stderr}`);
      return;
    }
    const csr = await parseCertificateRequest(fs.readFileSync(out));
    assert.equal(csr.signatureHash, "MD5");
    assert.equal(csr.signatureValid, false); // WebCrypto has no MD5
    checkThrows(csr, "InvalidArgument");
  });

  it("keeps names with commas and plus signs readable by the CA", async () => {
    const csr = await parsed({ name: [{ CN: ["Pump, Line+4"] }, { O: ["Plant 1"] }] });
    assert.deepEqual(new x509.Name(csr.subject).toJSON(), [{ CN: ["Pump, Line+4"] }, { O: ["Plant 1"] }]);
  });

  describe("rejects with InvalidArgument and a plain message", () => {
    const rejects = async (input: Buffer, messagePart?: string | RegExp) =>
      assert.rejects(parseCertificateRequest(input), isKind("InvalidArgument", messagePart));

    it("garbage, empty and oversized input", async () => {
      await rejects(Buffer.alloc(0), "empty");
      await rejects(randomBytes(300));
      await rejects(Buffer.from("hello world"));
      await rejects(Buffer.from([0x30]), "truncated");
      await rejects(Buffer.from([0x30, 0x00]));
      await rejects(Buffer.from([0x30, 0x80, 0x00, 0x00]), "indefinite");
      await rejects(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), "truncated");
      await rejects(Buffer.alloc(CSR_LIMITS.maxDerBytes + 1, 0x30), "larger");
      await rejects(null as unknown as Buffer, "ByteString");
      await rejects("MIIB" as unknown as Buffer, "ByteString");
    });

    it("PEM instead of DER", async () => {
      const der = await makeCsr();
      const pem = x509.PemConverter.encode(der.buffer.slice(der.byteOffset, der.byteOffset + der.length) as ArrayBuffer, "CERTIFICATE REQUEST");
      await rejects(Buffer.from(pem), "PEM");
    });

    it("truncated DER and trailing bytes", async () => {
      const der = await makeCsr();
      for (const cut of [1, 10, 100, der.length - 4, der.length - 1]) await rejects(der.subarray(0, cut));
      await rejects(Buffer.concat([der, Buffer.from([0])]), "trailing");
    });

    it("DER that is not a CSR (certificate, private key, nested sequences)", async () => {
      const ca = await CertificateAuthority.loadOrCreate(path.join(tmp, "ca2"), { subject: "CN=Other CA", keySize: 2048, lifetimeDays: 30 }, systemClock);
      await rejects(ca.certificateDer);
      const keys = await rsaKeys(2048, "SHA-256");
      await rejects(Buffer.from(await subtle.exportKey("pkcs8", keys.privateKey)));
      await rejects(Buffer.from(await subtle.exportKey("spki", keys.publicKey)));
      // 40 nested SEQUENCEs: beyond the parser's depth limit
      let deep = Buffer.from([0x05, 0x00]);
      for (let i = 0; i < 40; i++) deep = Buffer.concat([Buffer.from([0x30, deep.length]), deep]);
      await rejects(deep);
    });

    it("subjects with newlines, NUL, other control characters, empty or very long", async () => {
      await rejects(await makeCsr({ name: [{ CN: ["PLC\n4"] }] }), "control");
      await rejects(await makeCsr({ name: [{ CN: ["PLC\u00004"] }] }), "control");
      await rejects(await makeCsr({ name: [{ CN: ["PLC\u001b[31m4"] }] }), "control");
      await rejects(await makeCsr({ name: [{ CN: ["PLC\u20284"] }] }), "control");
      await rejects(await makeCsr({ name: [] }), "empty");
      await rejects(await makeCsr({ name: [{ CN: ["x".repeat(5000)] }] }), "longer");
      const many = Array.from({ length: CSR_LIMITS.maxSubjectAttributes + 1 }, (_, i) => ({ OU: [`u${i}`] }));
      await rejects(await makeCsr({ name: many }), "attributes");
    });

    it("SubjectAltName entries with whitespace or control characters", async () => {
      await rejects(await makeCsr({ names: [{ type: "url", value: APP_URI }, { type: "dns", value: "plc4 .example" }] }), "whitespace");
      await rejects(await makeCsr({ names: [{ type: "url", value: `${APP_URI}\n` }] }), "control");
    });

    it("every single-byte corruption of a valid CSR (never another exception type)", async () => {
      const der = await makeCsr();
      const positions = [...Array(der.length).keys()].filter((i) => i % 3 === 0);
      for (const i of positions) {
        const bad = Buffer.from(der);
        bad[i] ^= 0xff;
        try {
          const csr = await parseCertificateRequest(bad);
          // Some corruptions still decode (e.g. inside a name); the signature then no longer verifies.
          assert.equal(csr.signatureValid, false, `byte ${i}`);
        } catch (e) {
          assert.ok(isGdsError(e, "InvalidArgument"), `byte ${i}: ${String(e)}`);
        }
      }
    });
  });
});

describe("checkCertificateRequest (CSR policy)", () => {
  it("has the documented defaults", () => {
    assert.deepEqual({ ...DEFAULT_CSR_POLICY }, { minRsaBits: 2048, hostPolicy: "registered", extraAllowedHosts: [] });
    assert.ok(Object.isFrozen(DEFAULT_CSR_POLICY));
  });

  it("accepts a SHA-256 RSA-2048 CSR for the registered URI and hosts, and returns the names for the certificate", async () => {
    const csr = await parsed();
    assert.deepEqual(check(csr), { dnsNames: ["plc4.plant1.example"], ipAddresses: ["10.1.4.20", "2001:db8::4"] });
    assert.deepEqual(check(csr, {}), check(csr, DEFAULT_CSR_POLICY));
  });

  it("matches host names case-insensitively and IPv6 in any spelling, returning canonical forms without duplicates", async () => {
    const csr = await parsed({
      names: [
        { type: "url", value: APP_URI },
        { type: "dns", value: "PLC4.Plant1.Example" },
        { type: "dns", value: "plc4.plant1.example" },
        { type: "ip", value: "2001:0db8:0000:0000:0000:0000:0000:0004" },
      ],
    });
    assert.deepEqual(check(csr), { dnsNames: ["plc4.plant1.example"], ipAddresses: ["2001:db8::4"] });
  });

  it("refuses a signature that does not verify (InvalidArgument)", async () => {
    checkThrows(await parseCertificateRequest(tamperSignature(await makeCsr())), "InvalidArgument", "signature");
  });

  it("refuses SHA-1 and MD5 signatures (InvalidArgument)", async () => {
    checkThrows(await parsed({ hash: "SHA-1" }), "InvalidArgument", "SHA-1");
    const facts: ParsedCsrFacts = { ...(await parsed()), signatureHash: "MD5" };
    checkThrows(facts, "InvalidArgument", "MD5");
  });

  it("refuses RSA keys under minRsaBits (InvalidArgument), and accepts them when the policy allows", async () => {
    const small = await parsed({ bits: 1024 });
    checkThrows(small, "InvalidArgument", "1024 bits");
    assert.deepEqual(check(small, { minRsaBits: 1024 }).dnsNames, ["plc4.plant1.example"]);
    checkThrows(await parsed(), "InvalidArgument", "3072", { minRsaBits: 3072 });
  });

  it("refuses non-RSA keys (InvalidArgument): only RsaSha256ApplicationCertificateType is served", async () => {
    const keys = (await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    checkThrows(await parsed({ keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams }), "InvalidArgument", "EC");
  });

  it("wants exactly one URI, the registered ApplicationUri (CertificateUriInvalid)", async () => {
    checkThrows(await parsed({ names: null }), "CertificateUriInvalid", "no URI");
    checkThrows(await parsed({ names: [{ type: "dns", value: "plc4.plant1.example" }] }), "CertificateUriInvalid", "no URI");
    checkThrows(await parsed({ names: [{ type: "url", value: "urn:plant1:line5:plc" }] }), "CertificateUriInvalid", "urn:plant1:line5:plc");
    checkThrows(await parsed({ names: [{ type: "url", value: APP_URI.toUpperCase() }] }), "CertificateUriInvalid");
    checkThrows(
      await parsed({ names: [{ type: "url", value: APP_URI }, { type: "url", value: "urn:other" }] }),
      "CertificateUriInvalid",
      "2 URIs",
    );
    checkThrows(await parsed({ names: [{ type: "url", value: APP_URI }, { type: "url", value: APP_URI }] }), "CertificateUriInvalid");
  });

  it("refuses DNS names and IP addresses that are not hosts of the DiscoveryUrls (InvalidArgument naming them)", async () => {
    const withNames = (...names: x509.JsonGeneralName[]) => parsed({ names: [{ type: "url", value: APP_URI }, ...names] });
    checkThrows(await withNames({ type: "dns", value: "www.bank.example" }), "InvalidArgument", "www.bank.example");
    checkThrows(await withNames({ type: "ip", value: "10.1.4.21" }), "InvalidArgument", "10.1.4.21");
    checkThrows(await withNames({ type: "ip", value: "2001:db8::5" }), "InvalidArgument", "2001:db8::5");
    checkThrows(await withNames({ type: "dns", value: "plc4" }), "InvalidArgument", "plc4");
    // a registered IP address is not a DNS name
    checkThrows(await withNames({ type: "dns", value: "10.1.4.20" }), "InvalidArgument", "10.1.4.20");
    // a client has no DiscoveryUrls: no host name is allowed without an extra policy entry
    const client = { applicationUri: APP_URI, discoveryUrls: [] };
    checkThrows(await withNames({ type: "dns", value: "plc4.plant1.example" }), "InvalidArgument", "plc4.plant1.example", undefined, client);
    assert.deepEqual(check(await withNames(), undefined, client), { dnsNames: [], ipAddresses: [] });
  });

  it("allows policy.extraAllowedHosts besides the registered hosts", async () => {
    const csr = await parsed({
      names: [
        { type: "url", value: APP_URI },
        { type: "dns", value: "line4.plant1.example" },
        { type: "ip", value: "192.168.4.20" },
      ],
    });
    checkThrows(csr, "InvalidArgument", "line4.plant1.example");
    assert.deepEqual(check(csr, { extraAllowedHosts: ["Line4.Plant1.Example", "192.168.4.20"] }), {
      dnsNames: ["line4.plant1.example"],
      ipAddresses: ["192.168.4.20"],
    });
  });

  it('allows any valid host with hostPolicy "any", but still refuses names that are not host names', async () => {
    const csr = await parsed({
      names: [
        { type: "url", value: APP_URI },
        { type: "dns", value: "anything.example" },
        { type: "ip", value: "172.16.0.1" },
      ],
    });
    assert.deepEqual(check(csr, { hostPolicy: "any" }), { dnsNames: ["anything.example"], ipAddresses: ["172.16.0.1"] });
    const facts: ParsedCsrFacts = { ...csr, dnsNames: ["*.example"] };
    checkThrows(facts, "InvalidArgument", "*.example", { hostPolicy: "any" });
  });

  it("checks in order: signature, key type, key size, hash, URI, hosts", async () => {
    const facts: ParsedCsrFacts = {
      subject: "CN=x",
      publicKeySpki: new Uint8Array(),
      keyAlgorithm: "EC",
      keyBits: 256,
      signatureHash: "SHA-1",
      signatureValid: false,
      uris: [],
      dnsNames: ["evil.example"],
      ipAddresses: [],
    };
    checkThrows(facts, "InvalidArgument", "signature does not verify");
    checkThrows({ ...facts, signatureValid: true }, "InvalidArgument", "EC key");
    checkThrows({ ...facts, signatureValid: true, keyAlgorithm: "RSA", keyBits: 1024 }, "InvalidArgument", "1024 bits");
    checkThrows({ ...facts, signatureValid: true, keyAlgorithm: "RSA", keyBits: 2048 }, "InvalidArgument", "SHA-1");
    checkThrows({ ...facts, signatureValid: true, signatureHash: "SHA-256", keyAlgorithm: "RSA", keyBits: 2048 }, "CertificateUriInvalid");
    checkThrows({ ...facts, signatureValid: true, signatureHash: "SHA-256", keyAlgorithm: "RSA", keyBits: 2048, uris: [APP_URI] }, "InvalidArgument", "evil.example");
  });
});

describe("hostsOfDiscoveryUrls (default DomainNames of StartNewKeyPairRequest)", () => {
  it("splits the hosts into DNS names and IP addresses, canonical and without duplicates", () => {
    assert.deepEqual(
      hostsOfDiscoveryUrls([
        "opc.tcp://PLC4.plant1.example:4840/UA",
        "opc.https://plc4.plant1.example:443/",
        "opc.tcp://10.1.4.20:4840",
        "opc.tcp://[2001:DB8:0::4]:4840",
        "opc.wss://gateway:8443",
        "not a url",
        "",
      ]),
      { dnsNames: ["plc4.plant1.example", "gateway"], ipAddresses: ["10.1.4.20", "2001:db8::4"] },
    );
    assert.deepEqual(hostsOfDiscoveryUrls([]), { dnsNames: [], ipAddresses: [] });
  });

  it("works for the test application", () => {
    assert.deepEqual(hostsOfDiscoveryUrls(application.discoveryUrls), {
      dnsNames: ["plc4.plant1.example"],
      ipAddresses: ["10.1.4.20", "2001:db8::4"],
    });
  });
});
