import "reflect-metadata";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { webcrypto } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as x509 from "@peculiar/x509";
import { CSR_LIMITS, parseCertificateRequest, parseCertificateRequestGeneral, type ParsedCsr } from "../../src/ca/csr";
import { readPlainCsr } from "../../src/ca/csr-reader";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const subtle = webcrypto.subtle as unknown as SubtleCrypto;

type Hash = "SHA-256" | "SHA-384" | "SHA-512" | "SHA-1";

const keyCache = new Map<string, Promise<CryptoKeyPair>>();
function rsaKeys(bits: number, hash: Hash): Promise<CryptoKeyPair> {
  const id = `${bits}/${hash}`;
  if (!keyCache.has(id)) {
    keyCache.set(
      id,
      subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", hash, modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]) }, true, ["sign", "verify"]) as Promise<CryptoKeyPair>,
    );
  }
  return keyCache.get(id)!;
}

interface CsrOptions {
  subject?: string;
  names?: x509.JsonGeneralName[];
  hash?: Hash;
  bits?: number;
  keys?: CryptoKeyPair;
  signingAlgorithm?: Algorithm | EcdsaParams;
  extensions?: x509.Extension[];
  attributes?: x509.Attribute[];
}

async function makeCsr(o: CsrOptions = {}): Promise<Buffer> {
  const hash = o.hash ?? "SHA-256";
  const keys = o.keys ?? (await rsaKeys(o.bits ?? 2048, hash));
  const names = o.names ?? [
    { type: "url", value: "urn:plant1:line4:plc" },
    { type: "dns", value: "plc4.plant1.example" },
    { type: "ip", value: "10.1.4.20" },
    { type: "ip", value: "2001:db8::4" },
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: o.subject ?? "CN=PLC 4, O=Plant 1",
    keys,
    signingAlgorithm: o.signingAlgorithm ?? { name: "RSASSA-PKCS1-v1_5", hash },
    extensions: [...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []), ...(o.extensions ?? [])],
    attributes: o.attributes,
  });
  return Buffer.from(csr.rawData);
}

/** What a ParsedCsr says, with the key as its SPKI and node:crypto description. */
async function facts(csr: ParsedCsr) {
  const { publicKey, ...rest } = csr;
  return {
    ...rest,
    publicKeySpki: Buffer.from(rest.publicKeySpki).toString("hex"),
    key: {
      spki: publicKey.export({ type: "spki", format: "der" }).toString("hex"),
      type: publicKey.type,
      asymmetricKeyType: publicKey.asymmetricKeyType,
      details: publicKey.asymmetricKeyDetails,
    },
  };
}

/** The outcome of a parse: the facts, or the error's kind and message. */
async function outcome(parse: (der: Buffer) => Promise<ParsedCsr>, der: Buffer): Promise<unknown> {
  try {
    return await facts(await parse(der));
  } catch (e) {
    const err = e as { kind?: string; message?: string };
    return { error: err.kind ?? "not a GdsError", message: err.message };
  }
}

/** Both paths say the same about `der`; returns whether the lean reader took it. */
async function sameAsGeneral(der: Buffer, label: string): Promise<boolean> {
  const [lean, general] = await Promise.all([outcome(parseCertificateRequest, der), outcome(parseCertificateRequestGeneral, der)]);
  assert.deepEqual(lean, general, label);
  return readPlainCsr(new Uint8Array(der), CSR_LIMITS) !== null;
}

describe("lean PKCS#10 reader: the same facts as @peculiar/x509, or leaves the request to it", () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gds-csr-reader-"));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("reads the usual OPC UA request itself (RSA 2048/3072, SHA-256/384/512, URI + DNS + IP names)", async () => {
    for (const hash of ["SHA-256", "SHA-384", "SHA-512"] as const) assert.ok(await sameAsGeneral(await makeCsr({ hash }), hash), hash);
    assert.ok(await sameAsGeneral(await makeCsr({ bits: 3072 }), "3072"));
    assert.ok(await sameAsGeneral(await makeCsr({ bits: 1024 }), "1024 (the policy refuses it later)"));
    assert.ok(await sameAsGeneral(await makeCsr({ names: [] }), "no SubjectAltName"));
    assert.ok(await sameAsGeneral(await makeCsr({ names: [{ type: "url", value: "urn:a" }, { type: "url", value: "urn:b" }] }), "two URIs"));
    const v6 = ["::", "::1", "1::", "fe80::1:0:0:2", "1:0:0:2:0:0:0:3", "1:2:3:4:5:6:7:8", "0:0:1::"].map((value) => ({ type: "ip" as const, value }));
    assert.ok(await sameAsGeneral(await makeCsr({ names: [{ type: "url", value: "urn:a" }, ...v6] }), "IPv6 spellings"));
    const parsed = await parseCertificateRequest(await makeCsr());
    assert.equal(parsed.publicKey.type, "public");
    assert.equal(parsed.publicKey.asymmetricKeyType, "rsa");
  });

  it("reads plain subjects itself and leaves escaped, quoted, multi-valued or OID ones to @peculiar/x509", async () => {
    const plain = ["CN=PLC 4, O=Plant 1", "CN=Pumpe Süd, O=Werk 1, C=DE", "CN=泵站 1", "CN=a, DC=plant1, DC=example, E=a@b.example", "CN=x*y (z)", "CN=a, G=b, I=c, SN=d, T=e, L=f, ST=g, OU=h"];
    for (const subject of plain) assert.ok(await sameAsGeneral(await makeCsr({ subject }), subject), subject);
    const general = ["CN=Pump\\, Line\\+4", "CN=a+OU=b", "2.5.4.5=1234, CN=x", "CN=\\#x", "CN=a=b", "CN=\\ lead", "CN=emoji 🙂", "CN=<x>"];
    for (const subject of general) assert.equal(await sameAsGeneral(await makeCsr({ subject }), subject), false, subject);
  });

  it("leaves other keys, hashes, names, extensions and attributes to @peculiar/x509", async () => {
    const ec = (await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const cases: Array<[string, Promise<Buffer>]> = [
      ["SHA-1", makeCsr({ hash: "SHA-1" })],
      ["EC P-256", makeCsr({ keys: ec, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams })],
      ["e-mail name", makeCsr({ names: [{ type: "url", value: "urn:a" }, { type: "email", value: "a@b.example" }] })],
      ["non-ASCII DNS name", makeCsr({ names: [{ type: "url", value: "urn:a" }, { type: "dns", value: "bücher.example" }] })],
      ["keyUsage extension", makeCsr({ extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)] })],
      ["challengePassword", makeCsr({ attributes: [new x509.ChallengePasswordAttribute("secret")] })],
      ["two SubjectAltNames", makeCsr({ extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "urn:b" }])] })],
      ["URI with a space", makeCsr({ names: [{ type: "url", value: "urn:a b" }] })],
      ["too many names", makeCsr({ names: Array.from({ length: CSR_LIMITS.maxNames + 1 }, (_, i) => ({ type: "dns" as const, value: `h${i}.example` })) })],
    ];
    for (const [label, der] of cases) assert.equal(await sameAsGeneral(await der, label), false, label);
  });

  it("reads a request made by openssl (UTF8String subject, empty attribute set) itself", async (t) => {
    const key = path.join(tmp, "k.pem");
    const out = path.join(tmp, "req.der");
    const r = spawnSync(
      "openssl",
      ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", "/CN=PLC 4/O=Plant 1", "-addext", "subjectAltName=URI:urn:plant1:line4:plc,DNS:plc4.plant1.example,IP:10.1.4.20", "-outform", "DER", "-out", out],
      { encoding: "utf8" },
    );
    if (r.status !== 0) {
      t.skip(`openssl could not make a request: ${r.stderr}`);
      return;
    }
    const der = fs.readFileSync(out);
    assert.ok(await sameAsGeneral(der, "openssl"));
    const parsed = await parseCertificateRequest(der);
    assert.equal(parsed.subject, "CN=PLC 4, O=Plant 1");
    assert.deepEqual(parsed.uris, ["urn:plant1:line4:plc"]);
    assert.equal(parsed.signatureValid, true);
  });

  it("every single-byte corruption, truncation and extension of a plain request: the same outcome on both paths", async () => {
    const der = await makeCsr();
    let taken = 0;
    for (let i = 0; i < der.length; i++) {
      for (const flip of [0xff, 0x01, 0x80]) {
        const bad = Buffer.from(der);
        bad[i] ^= flip;
        if (await sameAsGeneral(bad, `byte ${i} ^ ${flip}`)) taken++;
      }
    }
    for (const cut of [2, 4, 20, 100, der.length - 1]) await sameAsGeneral(der.subarray(0, cut), `cut at ${cut}`);
    await sameAsGeneral(Buffer.concat([der, Buffer.from([0])]), "trailing byte");
    // Corruptions inside names, key and signature stay readable; most others are left to the general path.
    assert.ok(taken > 0);
  });
});
