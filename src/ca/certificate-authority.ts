import "reflect-metadata";
import { KeyObject, randomBytes, webcrypto } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import type { Clock } from "../domain/clock";
import type { IssueProfile, PublicKeyInput } from "../services/ports";
import { GdsError } from "../domain/errors";
import { readCaKeyFile, writeCaKeyFile } from "./ca-keys";
import { FileSigningKey, publicCryptoKey, RSA_SHA256, x509Signing, type CaKeyStorage, type CaSigningKey } from "./ca-signing-key";
import { encodeCertificate, encodeTbsCertificate, leafTemplate, subjectPublicKeyInfo, type LeafTemplate } from "./certificate-encoder";
import { exists, writePublicFile } from "./key-files";
import type { Pkcs11Token } from "./pkcs11-token";
import { createTokenKey, readTokenKeyReference, tokenKeyReferenceFile } from "./token-keys";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const subtle = webcrypto.subtle as unknown as SubtleCrypto;

/** How a CA is first created. */
export interface CaCreateOptions {
  subject: string;
  keySize: 2048 | 3072 | 4096;
  lifetimeDays: number;
  /** Encrypts a new key with this passphrase, and decrypts (or re-encrypts) an existing one. */
  passphrase?: string;
  /** Generates a new key inside this token (labelled `keyLabel`) instead of a key file. */
  token?: Pkcs11Token;
  keyLabel?: string;
}

/** What an application certificate must say: the certificate service's IssueProfile. */
export type ApplicationCertificateProfile = IssueProfile;

/** A fresh RSA key pair usable for signing with SHA-256. */
export async function generateRsaKeyPair(modulusLength: number): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(
    { ...RSA_SHA256, modulusLength, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
}

/** PKCS#8 PEM of a private key. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

/** A positive random serial number of 128 bits (>= 64 bits of entropy, RFC 5280 §4.1.2.2). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  if (bytes[0] === 0) bytes[0] = 0x01;
  return bytes.toString("hex");
}

/** The certificates of a PEM file, in file order. */
export function parsePemCertificates(pem: string): x509.X509Certificate[] {
  return x509.PemConverter.decode(pem).map((der) => new x509.X509Certificate(der));
}

/**
 * A certificate authority kept in a folder: `ca.cert.pem`, its key and, for a subordinate CA,
 * `ca.chain.pem` (its parents). The key is either `ca.key.pem` (mode 0600, encrypted PKCS#8 when a
 * passphrase is configured) or a non-extractable key in a PKCS#11 token, which `ca.key.pkcs11.json`
 * names (token, label, CKA_ID; no secret).
 * Built on @peculiar/x509 over node:crypto rather than node-opcua-pki's CA, because that CA ignores
 * subject and SAN overrides, sets its own keyUsage profile and was not safe under concurrent signing.
 */
export class CertificateAuthority {
  private constructor(
    readonly folder: string,
    readonly certificate: x509.X509Certificate,
    private readonly signingKey: CaSigningKey,
    private readonly clock: Clock,
    /** The issuers above this CA, nearest first, up to the root (`ca.chain.pem`); empty for a self-signed CA. */
    readonly chain: x509.X509Certificate[],
  ) {}

  /** Serial number of the CA certificate, lowercase hex. */
  get serialHex(): string {
    return this.certificate.serialNumber.toLowerCase();
  }

  /** The CA's key, for a rollover that keeps it (`ca renew --reuse-key`). */
  get key(): CaSigningKey {
    return this.signingKey;
  }

  /** Where the private key lives (a file, or a token and label). */
  get keyStorage(): CaKeyStorage {
    return this.signingKey.storage;
  }

  /** True when `ca.key.pem` is encrypted with a passphrase. */
  get keyEncrypted(): boolean {
    return this.signingKey.storage.kind === "file" && this.signingKey.storage.encrypted;
  }

  static certificateFile(folder: string): string {
    return path.join(folder, "ca.cert.pem");
  }

  static keyFile(folder: string): string {
    return path.join(folder, "ca.key.pem");
  }

  /** Parents of a subordinate CA certificate, nearest first (PEM). */
  static chainFile(folder: string): string {
    return path.join(folder, "ca.chain.pem");
  }

  /** Where the CAs a rollover superseded are kept until they retire, one folder per serial number. */
  static previousFolder(folder: string, serialHex?: string): string {
    return serialHex ? path.join(folder, "previous", serialHex) : path.join(folder, "previous");
  }

  /** Where a retired CA's certificate is kept for the record (its key is destroyed). */
  static retiredFolder(folder: string, serialHex: string): string {
    return path.join(folder, "retired", serialHex);
  }

  /** The key of a requested next CA certificate (`opcua-gds ca renew --csr`), installed by `ca install` as a rollover. */
  static nextKeyFile(folder: string): string {
    return path.join(folder, "ca.next.key.pem");
  }

  /** The key of a requested, not yet installed CA certificate (`opcua-gds ca csr`). */
  static pendingKeyFile(folder: string): string {
    return path.join(folder, "ca.pending.key.pem");
  }

  /** Loads the CA in `folder`, creating it first when the folder holds none. Never overwrites a key. */
  static async loadOrCreate(folder: string, options: CaCreateOptions, clock: Clock): Promise<CertificateAuthority> {
    const certFile = CertificateAuthority.certificateFile(folder);
    const [hasCert, hasKey] = await Promise.all([exists(certFile), hasKeyIn(folder)]);
    if (hasCert && hasKey) return CertificateAuthority.load(folder, clock, options.passphrase, options.token);
    if (hasCert !== hasKey) {
      throw new GdsError("Configuration", `the CA folder ${folder} holds ${hasCert ? "a certificate without its key" : "a key without its certificate"}; restore the missing file or move the folder away`);
    }
    let key: CaSigningKey;
    if (options.token) {
      // The key is made inside the token and never leaves it; the folder records which key it is.
      key = await createTokenKey(tokenKeyReferenceFile(folder), options.token, options.keyLabel ?? options.subject, options.keySize);
    } else {
      const keys = await generateRsaKeyPair(options.keySize);
      const keyObject = KeyObject.from(keys.privateKey as unknown as webcrypto.CryptoKey);
      await writeCaKeyFile(CertificateAuthority.keyFile(folder), keyObject, options.passphrase);
      key = await FileSigningKey.fromKeyObject(keyObject, CertificateAuthority.keyFile(folder), Boolean(options.passphrase));
    }
    const certificate = await createSelfSignedCaCertificate(key, options.subject, options.lifetimeDays, clock);
    await writePublicFile(certFile, certificate.toString("pem"));
    return CertificateAuthority.load(folder, clock, options.passphrase, options.token);
  }

  /**
   * Loads an existing CA. An encrypted key needs `passphrase`; a plaintext key is re-encrypted in
   * place when one is given. Fails with a Configuration error when the key does not belong to the
   * certificate (a half-finished replacement), rather than signing certificates nobody can verify.
   */
  static async load(folder: string, clock: Clock, passphrase?: string, token?: Pkcs11Token): Promise<CertificateAuthority> {
    const certFile = CertificateAuthority.certificateFile(folder);
    const certificate = new x509.X509Certificate(await fs.readFile(certFile, "utf8"));
    const signingKey = await loadSigningKey(folder, passphrase, token);
    if (!signingKey.publicKeySpki.equals(Buffer.from(certificate.publicKey.rawData))) {
      const where = signingKey.storage.kind === "pkcs11" ? `the key "${signingKey.storage.label}" in the PKCS#11 token "${signingKey.storage.token}"` : `the CA key ${CertificateAuthority.keyFile(folder)}`;
      throw new GdsError("Configuration", `${where} does not belong to the certificate ${certFile}: restore both from the same backup folder in ${folder}`);
    }
    const chainFile = CertificateAuthority.chainFile(folder);
    let chain: x509.X509Certificate[] = [];
    if (await exists(chainFile)) {
      try {
        chain = parsePemCertificates(await fs.readFile(chainFile, "utf8"));
      } catch {
        throw new GdsError("Configuration", `${chainFile} is not a list of PEM certificates: restore it, or install the CA again with \`opcua-gds ca install --chain\``);
      }
      // A chain left from another CA certificate (an interrupted replacement) would be handed to clients as this CA's.
      const issuer = chain[0];
      if (!issuer || issuer.subject !== certificate.issuer || !(await certificate.verify({ publicKey: issuer.publicKey, signatureOnly: true }).catch(() => false))) {
        throw new GdsError("Configuration", `${chainFile} does not start with the issuer of ${certFile}: restore the CA files from the same backup folder in ${folder}`);
      }
    }
    return new CertificateAuthority(folder, certificate, signingKey, clock, chain);
  }

  /** DER of the CA certificate. */
  get certificateDer(): Buffer {
    return Buffer.from(this.certificate.rawData);
  }

  /**
   * DER of the issuers above this CA, nearest first up to the root (from `ca.chain.pem`); empty for a
   * self-signed CA. An issued certificate's full chain is [leaf, certificateDer, ...chainDer].
   */
  get chainDer(): Buffer[] {
    return this.chain.map((c) => Buffer.from(c.rawData));
  }

  private akiExtension?: Promise<x509.AuthorityKeyIdentifierExtension>;

  /** The AuthorityKeyIdentifier every certificate and CRL of this CA carries, computed once. */
  private authorityKeyIdentifier(): Promise<x509.AuthorityKeyIdentifierExtension> {
    this.akiExtension ??= x509.AuthorityKeyIdentifierExtension.create(this.certificate);
    return this.akiExtension;
  }

  /** Signs a CRL (RFC 5280 §5, with CRLNumber and AuthorityKeyIdentifier). */
  async signCrl(entries: RevokedEntry[], crlNumber: number, thisUpdateMs: number, nextUpdateMs: number): Promise<x509.X509Crl> {
    const { signingKey, crypto } = x509Signing(this.signingKey);
    return x509.X509CrlGenerator.create(
      {
        issuer: this.certificate.subject,
        thisUpdate: new Date(thisUpdateMs),
        nextUpdate: new Date(nextUpdateMs),
        signingAlgorithm: RSA_SHA256,
        signingKey,
        entries: entries.map((e) => ({ serialNumber: e.serialHex, revocationDate: new Date(e.revokedAtMs) })),
        extensions: [new x509.Extension("2.5.29.20", false, derInteger(crlNumber)), await this.authorityKeyIdentifier()],
      },
      crypto,
    );
  }

  private template?: Promise<LeafTemplate>;

  /** The parts every application certificate of this CA shares, encoded once. */
  private leafTemplate(): Promise<LeafTemplate> {
    this.template ??= this.authorityKeyIdentifier().then((aki) => leafTemplate(this.certificate, aki));
    return this.template;
  }

  /**
   * Issues an application instance certificate for `publicKey` with exactly the given profile
   * (OPC 10000-12 §7.6): a random 128-bit serial, notBefore back-dated, SAN with the URI first,
   * keyUsage without keyCertSign/cRLSign, serverAuth+clientAuth, SKI and AKI. The RSA signature is
   * made by the CA's key: node:crypto in libuv's thread pool, or the token (C_Sign).
   */
  async issueApplicationCertificateDer(publicKey: PublicKeyInput, profile: ApplicationCertificateProfile): Promise<IssuedDer> {
    const now = this.clock.nowMs();
    const serial = Buffer.from(randomSerialHex(), "hex");
    const [template, spki] = await Promise.all([this.leafTemplate(), subjectPublicKeyInfo(publicKey)]);
    // Whole seconds, as the certificate states them.
    const notBeforeMs = Math.floor((now - profile.backdateSeconds * 1000) / 1000) * 1000;
    const notAfterMs = Math.floor((now + profile.lifetimeDays * 86400_000) / 1000) * 1000;
    const tbs = encodeTbsCertificate(template, {
      serial,
      notBeforeMs,
      notAfterMs,
      subject: profile.subject,
      spki,
      applicationUri: profile.applicationUri,
      dnsNames: profile.dnsNames,
      ipAddresses: profile.ipAddresses,
    });
    const signature = await this.signingKey.sign(tbs);
    return { der: encodeCertificate(tbs, signature), serialHex: serial.toString("hex"), notBeforeMs, notAfterMs };
  }

  /** Issues an application instance certificate (see issueApplicationCertificateDer), parsed. */
  async issueApplicationCertificate(publicKey: PublicKeyInput, profile: ApplicationCertificateProfile): Promise<x509.X509Certificate> {
    const issued = await this.issueApplicationCertificateDer(publicKey, profile);
    return new x509.X509Certificate(new Uint8Array(issued.der));
  }
}

/** An issued certificate's DER with what the certificate service records of it. */
export interface IssuedDer {
  der: Buffer;
  serialHex: string;
  notBeforeMs: number;
  notAfterMs: number;
}

/** One revoked certificate in a CRL. */
export interface RevokedEntry {
  serialHex: string;
  revokedAtMs: number;
}

/** True when the CA folder holds its key: a key file or the reference of a key in a token. */
async function hasKeyIn(folder: string): Promise<boolean> {
  const [file, token] = await Promise.all([exists(CertificateAuthority.keyFile(folder)), exists(tokenKeyReferenceFile(folder))]);
  return file || token;
}

/** The key of the CA in `folder`: its key file, or the token key its reference names. */
async function loadSigningKey(folder: string, passphrase: string | undefined, token: Pkcs11Token | undefined): Promise<CaSigningKey> {
  const keyFile = CertificateAuthority.keyFile(folder);
  const reference = await readTokenKeyReference(tokenKeyReferenceFile(folder));
  if (reference && (await exists(keyFile))) {
    throw new GdsError("Configuration", `the CA folder ${folder} holds both a key file and the reference of a key in a PKCS#11 token: move the one that does not belong to ca.cert.pem away`);
  }
  if (reference) return reference.resolve(token);
  const { key, encrypted } = await readCaKeyFile(keyFile, passphrase);
  return FileSigningKey.fromKeyObject(key, keyFile, encrypted);
}

/** A self-signed CA certificate for `key` (CA=TRUE, keyCertSign + cRLSign, SKI), signed by the key itself. */
export async function createSelfSignedCaCertificate(key: CaSigningKey, subject: string, lifetimeDays: number, clock: Clock): Promise<x509.X509Certificate> {
  const now = clock.nowMs();
  const { signingKey, crypto } = x509Signing(key);
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialHex(),
      subject,
      issuer: subject,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + lifetimeDays * 86400_000),
      signingAlgorithm: RSA_SHA256,
      publicKey: new Uint8Array(key.publicKeySpki),
      signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(await publicCryptoKey(key)),
      ],
    },
    crypto,
  );
}

/** DER INTEGER of a non-negative number, for the CRLNumber extension. */
function derInteger(value: number): ArrayBuffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, "hex");
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  const der = Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.length) as ArrayBuffer;
}
