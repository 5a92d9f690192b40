import "reflect-metadata";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as x509 from "@peculiar/x509";
import { CertificateAuthority } from "../../src/ca/certificate-authority";
import {
  encodeCertificate,
  encodeName,
  encodeSubjectAltName,
  encodeTbsCertificate,
  leafTemplate,
  subjectPublicKeyInfo,
  type LeafFields,
} from "../../src/ca/certificate-encoder";
import { DerError, DerReader, objectIdentifier, oidText, time, unsignedInteger } from "../../src/ca/der";
import type { Clock } from "../../src/domain/clock";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

async function rsaKeys(bits: number, publicExponent = [1, 0, 1]): Promise<CryptoKeyPair> {
  return (await subtle.generateKey({ ...RSA_SHA256, modulusLength: bits, publicExponent: new Uint8Array(publicExponent) }, true, ["sign", "verify"])) as CryptoKeyPair;
}

let caCount = 0;

/** A CA made by CertificateAuthority.loadOrCreate in `dir`, with its private key read back from its key file. */
async function makeCa(dir: string, subject: string): Promise<{ certificate: x509.X509Certificate; keys: CryptoKeyPair }> {
  const folder = path.join(dir, `ca-${++caCount}`);
  const ca = await CertificateAuthority.loadOrCreate(folder, { subject, keySize: 2048, lifetimeDays: 30 }, { nowMs: () => Date.now() });
  const pkcs8 = createPrivateKey(fs.readFileSync(CertificateAuthority.keyFile(folder))).export({ type: "pkcs8", format: "der" });
  const privateKey = await subtle.importKey("pkcs8", pkcs8, RSA_SHA256, false, ["sign"]);
  return { certificate: ca.certificate, keys: { privateKey, publicKey: await ca.certificate.publicKey.export() } };
}

interface Profile {
  serialHex: string;
  notBeforeMs: number;
  notAfterMs: number;
  subject: string;
  applicationUri: string;
  dnsNames: string[];
  ipAddresses: string[];
}

/** The certificate as the CA made it with @peculiar/x509's generator (the reference). */
async function referenceCertificate(ca: { certificate: x509.X509Certificate; keys: CryptoKeyPair }, publicKey: CryptoKey, p: Profile): Promise<Buffer> {
  const names: x509.JsonGeneralName[] = [
    { type: "url", value: p.applicationUri },
    ...p.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...p.ipAddresses.map((value) => ({ type: "ip" as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: p.serialHex,
    subject: p.subject,
    issuer: ca.certificate.subject,
    notBefore: new Date(p.notBeforeMs),
    notAfter: new Date(p.notAfterMs),
    signingAlgorithm: RSA_SHA256,
    publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
    ],
  });
  return Buffer.from(cert.rawData);
}

/** The same certificate from the DER encoder, signed with the same key (PKCS#1 v1.5 signatures are deterministic). */
async function encodedCertificate(ca: { certificate: x509.X509Certificate; keys: CryptoKeyPair }, publicKey: CryptoKey, p: Profile): Promise<Buffer> {
  const template = await leafTemplate(ca.certificate, await x509.AuthorityKeyIdentifierExtension.create(ca.certificate));
  const fields: LeafFields = { ...p, serial: Buffer.from(p.serialHex, "hex"), spki: await subjectPublicKeyInfo(publicKey) };
  const tbs = encodeTbsCertificate(template, fields);
  const signature = new Uint8Array(await subtle.sign(RSA_SHA256, ca.keys.privateKey, tbs as Uint8Array<ArrayBuffer>));
  return encodeCertificate(tbs, signature);
}

const BASE: Profile = {
  serialHex: "5a0b1c2d3e4f5061728394a5b6c7d8e9",
  notBeforeMs: Date.parse("2026-11-26T13:00:00Z"),
  notAfterMs: Date.parse("2027-11-26T14:00:00Z"),
  subject: "CN=PLC 4, O=Plant 1",
  applicationUri: "urn:plant1:line4:plc",
  dnsNames: ["plc4.plant1.example"],
  ipAddresses: ["10.1.4.20", "2001:db8::4"],
};

/** Subjects in the encoder's own plain form and ones it hands to @peculiar/x509. */
const SUBJECTS = [
  "CN=PLC 4, O=Plant 1",
  "CN=PLC 4,O=Plant 1,OU=Line 4,L=Basel,ST=BS,C=CH",
  "CN=Pumpe Süd, O=Werk 1",
  "CN=泵站 1, O=工厂",
  "CN=gds, O=opcua-gds, DC=gds.plant1.example",
  "CN=a, E=admin@plant1.example, G=Ann, I=A, SN=Smith, T=Engineer",
  "CN=under_score & ampersand!, O=x*y",
  "CN=Pump\\, Line\\+4, O=Plant 1",
  'CN="quoted, value", O=Plant 1',
  "CN=a+OU=b, O=c",
  "2.5.4.3=by oid, O=Plant 1",
  "CN=\\#hash, O=x",
  "CN=#0c0548656c6c6f",
  "CN=trailing\\ , O=x",
  "CN=tab\\09 esc, O=x",
  "CN=a=b, O=c",
  "CN=x, DC=münchen",
  "CN=emoji 🙂, O=x",
  "CN=a,  O=two spaces",
  "CN=x, O=<angle>",
];

describe("DER encoder of application certificates: byte for byte what @peculiar/x509 made", () => {
  let tmp: string;
  let ca: { certificate: x509.X509Certificate; keys: CryptoKeyPair };
  let key2048: CryptoKeyPair;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gds-encoder-ca-"));
    ca = await makeCa(tmp, "CN=Plant 1 GDS CA, O=Plant 1");
    key2048 = await rsaKeys(2048);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const same = async (p: Profile, publicKey = key2048.publicKey, authority = ca) => {
    const [reference, encoded] = await Promise.all([referenceCertificate(authority, publicKey, p), encodedCertificate(authority, publicKey, p)]);
    assert.equal(encoded.toString("hex"), reference.toString("hex"), `certificate for ${JSON.stringify(p)}`);
  };

  it("the usual application certificate", () => same(BASE));

  it("every kind of subject (plain ones encoded here, the others by @peculiar/x509)", async () => {
    for (const subject of SUBJECTS) await same({ ...BASE, subject });
  });

  it("every kind of subject name: the Name alone", () => {
    for (const subject of SUBJECTS) {
      assert.equal(Buffer.from(encodeName(subject)).toString("hex"), Buffer.from(new x509.Name(subject).toArrayBuffer()).toString("hex"), subject);
    }
  });

  it("SubjectAltNames: several DNS names, IPv4, IPv6 in every spelling, none, and names @peculiar/x509 must encode", async () => {
    const cases: Array<Pick<Profile, "applicationUri" | "dnsNames" | "ipAddresses">> = [
      { applicationUri: "urn:a", dnsNames: [], ipAddresses: [] },
      { applicationUri: "urn:a", dnsNames: ["a.example", "b.example", "localhost"], ipAddresses: ["127.0.0.1", "0.0.0.0", "255.255.255.255"] },
      { applicationUri: "urn:a", dnsNames: [], ipAddresses: ["::", "::1", "1::", "2001:DB8:0:0:0:0:0:4", "fe80::1:0:0:2", "1:2:3:4:5:6:7:8", "1:0:0:2:0:0:0:3"] },
      { applicationUri: "urn:a", dnsNames: [], ipAddresses: ["::ffff:10.1.2.3"] },
      { applicationUri: "urn:a", dnsNames: [], ipAddresses: ["010.001.002.003"] },
      { applicationUri: "urn:straße", dnsNames: ["b.example"], ipAddresses: [] },
      { applicationUri: "urn:a", dnsNames: ["bücher.example"], ipAddresses: ["10.0.0.1"] },
      { applicationUri: "http://host.example/path?query=1&x=%20", dnsNames: ["x".repeat(200)], ipAddresses: [] },
    ];
    for (const c of cases) {
      const json: x509.JsonGeneralName[] = [
        { type: "url", value: c.applicationUri },
        ...c.dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...c.ipAddresses.map((value) => ({ type: "ip" as const, value })),
      ];
      const reference = Buffer.from(new x509.SubjectAlternativeNameExtension(json).rawData).toString("hex");
      assert.equal(Buffer.from(encodeSubjectAltName(c.applicationUri, c.dnsNames, c.ipAddresses)).toString("hex"), reference, JSON.stringify(c));
    }
    await same({ ...BASE, dnsNames: ["a.example", "b.example"], ipAddresses: ["::1", "192.168.0.1"] });
  });

  it("RSA keys of 2048, 3072 and 4096 bits and exponent 3; an EC key", async () => {
    for (const keys of [await rsaKeys(3072), await rsaKeys(4096), await rsaKeys(2048, [3])]) await same(BASE, keys.publicKey);
    const ec = (await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    await same(BASE, ec.publicKey);
  });

  it("validity from 2050 on as GeneralizedTime, milliseconds dropped, serials of any length", async () => {
    await same({ ...BASE, notAfterMs: Date.parse("2050-01-01T00:00:00.999Z") });
    await same({ ...BASE, notBeforeMs: Date.parse("2049-12-31T23:59:59.500Z"), notAfterMs: Date.parse("2099-12-31T23:59:59Z") });
    await same({ ...BASE, serialHex: "01" });
    await same({ ...BASE, serialHex: "7fffffffffffffffffffffffffffffff" });
    await same({ ...BASE, serialHex: "0102030405060708" });
  });

  it("a CA whose subject @peculiar/x509 writes differently from plain text", async () => {
    await same(BASE, key2048.publicKey, await makeCa(tmp, "CN=Plant CA\\, Main, O=Plant 1, C=CH"));
  });
});

describe("CertificateAuthority.issueApplicationCertificateDer", () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gds-encoder-"));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("issues a certificate that node:crypto and openssl read as the profile says, chained to the CA", async () => {
    const nowMs = Date.parse("2026-11-26T12:34:56.789Z");
    const clock: Clock = { nowMs: () => nowMs };
    const ca = await CertificateAuthority.loadOrCreate(path.join(tmp, "ca"), { subject: "CN=Encoder CA, O=Plant 1", keySize: 2048, lifetimeDays: 30 }, clock);
    const keys = await rsaKeys(2048);
    const issued = await ca.issueApplicationCertificateDer(keys.publicKey, {
      subject: "CN=PLC 4, O=Plant 1",
      applicationUri: "urn:plant1:line4:plc",
      dnsNames: ["plc4.plant1.example"],
      ipAddresses: ["10.1.4.20", "2001:db8::4"],
      lifetimeDays: 365,
      backdateSeconds: 3600,
    });
    const node = new X509Certificate(issued.der);
    assert.ok(node.verify(new X509Certificate(ca.certificateDer).publicKey));
    assert.ok(node.checkIssued(new X509Certificate(ca.certificateDer)));
    assert.equal(node.serialNumber.toLowerCase(), issued.serialHex);
    assert.ok(issued.serialHex.length >= 16 && !(parseInt(issued.serialHex.slice(0, 2), 16) & 0x80));
    assert.equal(issued.notBeforeMs, Date.parse("2026-11-26T11:34:56Z"));
    assert.equal(issued.notAfterMs, Date.parse("2027-11-26T12:34:56Z"));
    assert.equal(Date.parse(node.validFrom), issued.notBeforeMs);
    assert.equal(Date.parse(node.validTo), issued.notAfterMs);
    assert.equal(node.subject, "CN=PLC 4\nO=Plant 1");
    assert.equal(node.subjectAltName, "URI:urn:plant1:line4:plc, DNS:plc4.plant1.example, IP Address:10.1.4.20, IP Address:2001:DB8:0:0:0:0:0:4");
    assert.deepEqual(node.keyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    assert.equal(node.ca, false);
    assert.deepEqual(
      createPublicKey(node.publicKey.export({ type: "spki", format: "pem" })).export({ type: "spki", format: "der" }),
      Buffer.from(await subtle.exportKey("spki", keys.publicKey)),
    );
    const parsed = new x509.X509Certificate(new Uint8Array(issued.der));
    assert.equal(parsed.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment);
    assert.equal(
      parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
      (await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)).keyId,
    );

    const file = path.join(tmp, "leaf.der");
    fs.writeFileSync(file, issued.der);
    const text = spawnSync("openssl", ["x509", "-inform", "DER", "-in", file, "-noout", "-text"], { encoding: "utf8" });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(text.stdout, /Public-Key: \(2048 bit\)/);
    assert.match(text.stdout, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text.stdout, /X509v3 Key Usage: critical\s+Digital Signature, Non Repudiation, Key Encipherment, Data Encipherment\n/);
    assert.match(text.stdout, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text.stdout, /URI:urn:plant1:line4:plc, DNS:plc4.plant1.example, IP Address:10.1.4.20, IP Address:2001:DB8:0:0:0:0:0:4/);
    assert.match(text.stdout, /X509v3 Subject Key Identifier/);
    assert.match(text.stdout, /X509v3 Authority Key Identifier/);
    const caFile = path.join(tmp, "ca.pem");
    fs.writeFileSync(caFile, ca.certificate.toString("pem"));
    fs.writeFileSync(path.join(tmp, "leaf.pem"), new x509.X509Certificate(new Uint8Array(issued.der)).toString("pem"));
    const verified = spawnSync("openssl", ["verify", "-CAfile", caFile, "-attime", String(Math.floor(nowMs / 1000)), path.join(tmp, "leaf.pem")], { encoding: "utf8" });
    assert.equal(verified.status, 0, `${verified.stdout}${verified.stderr}`);
  });

  it("gives every certificate its own serial", async () => {
    const ca = await CertificateAuthority.loadOrCreate(path.join(tmp, "ca2"), { subject: "CN=Serial CA", keySize: 2048, lifetimeDays: 30 }, { nowMs: () => Date.now() });
    const keys = await rsaKeys(2048);
    const profile = { subject: "CN=x", applicationUri: "urn:x", dnsNames: [], ipAddresses: [], lifetimeDays: 1, backdateSeconds: 0 };
    const serials = await Promise.all(Array.from({ length: 50 }, () => ca.issueApplicationCertificateDer(keys.publicKey, profile).then((c) => c.serialHex)));
    assert.equal(new Set(serials).size, 50);
  });
});

describe("DER primitives", () => {
  it("OIDs encode and decode", () => {
    for (const oid of ["2.5.29.17", "1.2.840.113549.1.1.11", "0.9.2342.19200300.100.1.25", "2.999.1", "1.3.6.1.4.1.311.60.2.1.3"]) {
      const encoded = objectIdentifier(oid);
      const reader = new DerReader(encoded);
      assert.equal(oidText(reader.content(reader.next(0x06))), oid);
    }
    assert.equal(objectIdentifier("2.5.29.17").toString("hex"), "0603551d11");
  });

  it("integers are minimal and positive", () => {
    assert.equal(unsignedInteger(Uint8Array.of(0, 0, 1)).toString("hex"), "020101");
    assert.equal(unsignedInteger(Uint8Array.of(0x80)).toString("hex"), "02020080");
    assert.equal(unsignedInteger(Uint8Array.of(0)).toString("hex"), "020100");
    assert.equal(unsignedInteger(new Uint8Array(0)).toString("hex"), "020100");
  });

  it("times: UTCTime until 2049, GeneralizedTime after", () => {
    assert.equal(time(Date.parse("2026-01-02T03:04:05.678Z")).toString("latin1").slice(2), "260102030405Z");
    assert.equal(time(Date.parse("2049-12-31T23:59:59Z"))[0], 0x17);
    assert.equal(time(Date.parse("2050-01-01T00:00:00Z")).toString("latin1").slice(2), "20500101000000Z");
  });

  it("the reader takes strict DER only", () => {
    const bad = (hex: string) => assert.throws(() => new DerReader(Buffer.from(hex, "hex")).next(), DerError, hex);
    bad("30"); // truncated
    bad("3080"); // indefinite length
    bad("30810100"); // long form for a short length
    bad("3082000100"); // leading zero in the length
    bad("300300"); // content beyond the end
    bad("1f0100"); // multi-byte tag
    const long = Buffer.concat([Buffer.from("3081c8", "hex"), Buffer.alloc(200)]);
    const e = new DerReader(long).next(0x30);
    assert.deepEqual([e.contentStart, e.end], [3, 203]);
    assert.throws(() => new DerReader(Buffer.concat([Buffer.from("308200c8", "hex"), Buffer.alloc(200)])).next(), DerError);
    assert.throws(() => new DerReader(Buffer.from("0500", "hex")).next(0x30), DerError);
  });
});
