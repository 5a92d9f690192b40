import "reflect-metadata";
import { X509Certificate, createPublicKey, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { generateRsaKeyPair, privateKeyToPem } from "../../src/ca/certificate-authority";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** A key pair for test CSRs, with its private key in PEM. */
export async function testKeyPair(bits = 2048): Promise<{ keys: CryptoKeyPair; privateKeyPem: string }> {
  const keys = await generateRsaKeyPair(bits);
  return { keys, privateKeyPem: await privateKeyToPem(keys.privateKey) };
}

/** A PKCS#10 request like an OPC UA application makes: URI SAN plus host names. */
export async function makeCsr(keys: CryptoKeyPair, options: { uri?: string; dns?: string[]; ip?: string[]; subject?: string; hash?: "SHA-256" | "SHA-1" }): Promise<Buffer> {
  const names: x509.JsonGeneralName[] = [
    ...(options.uri ? [{ type: "url" as const, value: options.uri }] : []),
    ...(options.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(options.ip ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  const hash = options.hash ?? "SHA-256";
  const subtle = webcrypto.subtle as unknown as SubtleCrypto;
  // WebCrypto binds the hash to the key: a SHA-1 signature needs the key imported for SHA-1.
  const signingKeys =
    hash === "SHA-256"
      ? keys
      : {
          publicKey: await subtle.importKey("spki", await subtle.exportKey("spki", keys.publicKey), { name: "RSASSA-PKCS1-v1_5", hash }, true, ["verify"]),
          privateKey: await subtle.importKey("pkcs8", await subtle.exportKey("pkcs8", keys.privateKey), { name: "RSASSA-PKCS1-v1_5", hash }, true, ["sign"]),
        };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.subject ?? "CN=Test Application",
    keys: signingKeys,
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash },
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return Buffer.from(csr.rawData);
}

/** What a test checks of an issued certificate, read with node:crypto and @peculiar/x509. */
export function inspectCertificate(der: Buffer) {
  const node = new X509Certificate(der);
  const peculiar = new x509.X509Certificate(new Uint8Array(der));
  const keyUsage = peculiar.getExtension(x509.KeyUsagesExtension);
  const basic = peculiar.getExtension(x509.BasicConstraintsExtension);
  const eku = peculiar.getExtension(x509.ExtendedKeyUsageExtension);
  const san = peculiar.getExtension(x509.SubjectAlternativeNameExtension);
  return {
    node,
    serialHex: peculiar.serialNumber.toLowerCase(),
    uris: san?.names.items.filter((n) => n.type === "url").map((n) => n.value) ?? [],
    dnsNames: san?.names.items.filter((n) => n.type === "dns").map((n) => n.value) ?? [],
    ipAddresses: san?.names.items.filter((n) => n.type === "ip").map((n) => n.value) ?? [],
    keyUsage: keyUsage?.usages ?? 0,
    keyUsageCritical: keyUsage?.critical ?? false,
    isCa: basic?.ca ?? null,
    basicCritical: basic?.critical ?? false,
    extendedKeyUsages: Array.from(eku?.usages ?? [], String),
    hasAuthorityKeyIdentifier: Boolean(peculiar.getExtension(x509.AuthorityKeyIdentifierExtension)),
    hasSubjectKeyIdentifier: Boolean(peculiar.getExtension(x509.SubjectKeyIdentifierExtension)),
    notBefore: peculiar.notBefore,
    notAfter: peculiar.notAfter,
    spki: createPublicKey(node.publicKey.export({ type: "spki", format: "pem" })).export({ type: "spki", format: "der" }),
  };
}

export { x509 };

/** A device's own self-signed application certificate (as an OPC UA stack makes one), written to files. */
export async function selfSignedApplicationCertificate(applicationUri: string, dir: string, name: string): Promise<{ applicationUri: string; certificateFile: string; privateKeyFile: string }> {
  const { keys, privateKeyPem } = await testKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Date.now().toString(16) + Math.floor(Math.random() * 1e6).toString(16),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 30 * 86400_000),
    keys,
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: applicationUri }, { type: "dns", value: "localhost" }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certificateFile = `${dir}/${name}.pem`;
  const privateKeyFile = `${dir}/${name}.key`;
  const fs = await import("node:fs/promises");
  await fs.writeFile(certificateFile, cert.toString("pem"));
  await fs.writeFile(privateKeyFile, privateKeyPem, { mode: 0o600 });
  return { applicationUri, certificateFile, privateKeyFile };
}
