import "reflect-metadata";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { generateRsaKeyPair, randomSerialHex } from "../../src/ca/certificate-authority";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** A plant's offline root CA, made with @peculiar/x509 as an operator's own tooling would. */
export interface OfflineRoot {
  certificate: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export async function makeOfflineRoot(subject = "CN=Plant 1 Offline Root CA, O=Plant 1"): Promise<OfflineRoot> {
  const keys = await generateRsaKeyPair(2048);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: subject,
    notBefore: new Date(Date.now() - 86400_000),
    notAfter: new Date(Date.now() + 3650 * 86400_000),
    signingAlgorithm: RSA_SHA256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, keys };
}

/** The root certifies `publicKey` (SPKI) under `subject`: as a CA certificate, or (by mistake) as a leaf. */
export async function certifyKey(rootCa: OfflineRoot, subject: string, publicKey: x509.PublicKey | BufferSource, asCa: boolean): Promise<x509.X509Certificate> {
  const key = publicKey instanceof x509.PublicKey ? publicKey : new x509.PublicKey(publicKey);
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject,
    issuer: rootCa.certificate.subject,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 1825 * 86400_000),
    signingAlgorithm: RSA_SHA256,
    publicKey: key,
    signingKey: rootCa.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(asCa, asCa ? 0 : undefined, true),
      new x509.KeyUsagesExtension(asCa ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      await x509.SubjectKeyIdentifierExtension.create(key),
      await x509.AuthorityKeyIdentifierExtension.create(rootCa.certificate),
    ],
  });
}

/** What the root operator does with the GDS's CSR: checks its proof of possession and certifies its key. */
export async function signRequest(rootCa: OfflineRoot, csrPem: string, asCa: boolean): Promise<x509.X509Certificate> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  assert.ok(await csr.verify(), "the CSR's proof of possession does not verify");
  return certifyKey(rootCa, csr.subject, csr.publicKey, asCa);
}
