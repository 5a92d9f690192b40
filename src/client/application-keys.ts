import { createPrivateKey, createPublicKey, generateKeyPair, randomBytes, webcrypto, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { promisify } from "node:util";
import * as x509 from "@peculiar/x509";

/** node:crypto's WebCrypto, passed explicitly to @peculiar/x509 so that no global provider is changed. */
const crypto = webcrypto as unknown as Crypto;
const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** A private key as the library takes it: a KeyObject, or PEM text (PKCS#8 or PKCS#1, unencrypted). */
export type PrivateKeyInput = KeyObject | string | Buffer;

/** The KeyObject of a private key given as a KeyObject or PEM. */
export function privateKeyObject(key: PrivateKeyInput): KeyObject {
  return typeof key === "string" || Buffer.isBuffer(key) ? createPrivateKey(key) : key;
}

/** PKCS#8 PEM of a private key (what the PKI store holds in own/private). */
export function privateKeyPem(key: PrivateKeyInput): string {
  return privateKeyObject(key).export({ type: "pkcs8", format: "pem" }) as string;
}

/** A new RSA key pair for an application certificate (RsaSha256ApplicationCertificateType: 2048 bits or more). */
export async function generateApplicationKey(bits = 2048): Promise<KeyObject> {
  const { privateKey } = await promisify(generateKeyPair)("rsa", { modulusLength: bits, publicExponent: 0x10001 });
  return privateKey;
}

async function webKeys(key: KeyObject): Promise<CryptoKeyPair> {
  const pkcs8 = key.export({ type: "pkcs8", format: "der" });
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  return {
    privateKey: await crypto.subtle.importKey("pkcs8", pkcs8, RSA_SHA256, false, ["sign"]),
    publicKey: await crypto.subtle.importKey("spki", spki, RSA_SHA256, true, ["verify"]),
  };
}

/** The names an application certificate carries besides its subject. */
export interface ApplicationNames {
  applicationUri: string;
  /** Subject in RFC 4514 form, e.g. `CN=Line 4 PLC, O=Plant 1`. */
  subject: string;
  /** Host names and IP addresses (sorted into dNSName and iPAddress entries). */
  hostNames?: string[];
}

function alternativeNames(names: ApplicationNames): x509.JsonGeneralName[] {
  return [
    { type: "url", value: names.applicationUri },
    ...(names.hostNames ?? []).map((h) => (isIP(h) ? { type: "ip" as const, value: h } : { type: "dns" as const, value: h })),
  ];
}

/**
 * A PKCS#10 certificate request (DER) for `key`, with exactly one URI (the ApplicationUri) and the
 * host names in its SubjectAltName, signed with SHA-256: what StartSigningRequest takes.
 */
export async function createCertificateRequest(key: PrivateKeyInput, names: ApplicationNames): Promise<Buffer> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: names.subject, keys: await webKeys(privateKeyObject(key)), signingAlgorithm: RSA_SHA256, extensions: [new x509.SubjectAlternativeNameExtension(alternativeNames(names))] },
    crypto,
  );
  return Buffer.from(csr.rawData);
}

/**
 * A self-signed application certificate (DER) for `key`, as an OPC UA stack makes one at first start:
 * the identity a device presents before the GDS issued it a certificate (onboarding, first contact).
 */
export async function createSelfSignedCertificate(key: PrivateKeyInput, names: ApplicationNames, lifetimeDays = 365): Promise<Buffer> {
  const keys = await webKeys(privateKeyObject(key));
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: `01${randomBytes(15).toString("hex")}`,
      name: names.subject,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + lifetimeDays * 86_400_000),
      keys,
      signingAlgorithm: RSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment | x509.KeyUsageFlags.keyCertSign,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(alternativeNames(names)),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return Buffer.from(certificate.rawData);
}
