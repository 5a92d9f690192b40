import "reflect-metadata";
import { createPublicKey, KeyObject, webcrypto } from "node:crypto";
import { thumbprintOf } from "../domain/thumbprint";
import fs from "node:fs/promises";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import type { GdsConfig } from "../config/config";
import type { DataPaths } from "../config/data-folder";
import { CERTIFICATE_GROUPS, DEFAULT_APPLICATION_GROUP, groupByName, type CertificateGroupSpec, type CertificateTypeSpec } from "../domain/certificate-groups";
import type { Clock } from "../domain/clock";
import { GdsError, invalidArgument } from "../domain/errors";
import { CaRegistry, defaultCaKeyLabel, defaultCaSubject, openCaToken } from "./ca-registry";
import { decodeCaPrivateKey, isEncryptedPem, publicKeySpkiOf, readCaKeyFile, writeCaKeyFile } from "./ca-keys";
import { FileSigningKey, publicCryptoKey, RSA_SHA256, x509Signing, type CaKeyStorage, type CaSigningKey } from "./ca-signing-key";
import { CertificateAuthority, generateRsaKeyPair, parsePemCertificates } from "./certificate-authority";
import { installNextAuthority, writeAuthorityFiles, type NewCaKey } from "./ca-rollover";
import { ensureServerCertificate } from "./gds-identity";
import { exists, writePrivateKeyFile, writePublicFile } from "./key-files";
import type { Pkcs11Key, Pkcs11Token } from "./pkcs11-token";
import { checkTokenKeyProtection, pendingTokenKeyReferenceFile, readTokenKeyReference, tokenKeyReferenceFile, writeTokenKeyReference } from "./token-keys";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** A CA certificate may say it starts this much in the future (the signer's clock runs ahead). */
const NOT_BEFORE_TOLERANCE_MS = 5 * 60_000;
/** Smallest RSA modulus accepted for a CA key given from outside. */
const MIN_CA_KEY_BITS = 2048;

/** What `ca csr` produced. */
export interface CaSigningRequest {
  group: string;
  certificateType: string;
  subject: string;
  /** PKCS#10 request in PEM. */
  pem: string;
  /** The pending key file, or the file that names the pending key in the token. */
  pendingKeyFile: string;
  /** True when an existing pending key was used again (an earlier `ca csr` not installed yet). */
  reusedPendingKey: boolean;
}

/** What `ca install` or `ca import` did. */
export interface CaInstallReport {
  group: string;
  certificateType: string;
  folder: string;
  subject: string;
  issuer: string;
  thumbprint: string;
  kind: "self-signed" | "subordinate";
  /** Number of parent certificates kept in `ca.chain.pem`. */
  chainLength: number;
  keyEncrypted: boolean;
  /** Where the CA key lives: a file, or a token and label. */
  keyStorage: CaKeyStorage;
  /** Where the previous CA files went; null when the folder held no CA. */
  backupFolder: string | null;
  /** True when the GDS's own certificate was issued again by the new CA (DefaultApplicationGroup). */
  serverCertificateReissued: boolean;
  /** Set for a rollover (`ca renew --csr`): serial of the CA that stays trusted until it retires. */
  rolloverFrom?: string;
}

/** One certificate of a CA's chain, as `ca show` lists it. */
export interface CaChainEntry {
  subject: string;
  thumbprint: string;
  notAfter: string;
}

/** The state of one group/type CA, as `ca show` prints it. */
export interface CaDescription {
  group: string;
  certificateType: string;
  folder: string;
  /** False when the folder holds no CA yet (it is created by `init` or `start`). */
  present: boolean;
  subject?: string;
  issuer?: string;
  serialNumber?: string;
  notBefore?: string;
  notAfter?: string;
  /** SHA-1 of the DER certificate, lowercase hex. */
  thumbprint?: string;
  keyEncrypted?: boolean;
  /** Where the CA key lives: a file, or a token and label (read from the folder; the token is not opened). */
  keyStorage?: CaKeyStorage;
  kind?: "self-signed" | "subordinate";
  chain?: CaChainEntry[];
  /** True when a `ca csr` key waits for its certificate (`ca.pending.key.pem`, or `ca.pending.key.pkcs11.json` for a key in a token). */
  pendingKey: boolean;
  /** True when a `ca renew --csr` key waits for its certificate (`ca.next.key.pem` or its token reference). */
  nextKey: boolean;
}

/** The key a CA certificate is installed with: a key file's key, or a key in the token. */

/** Where an input came from, for messages. */
interface CertificateInput {
  certificateFile: string;
  chainFile?: string;
}

function sha1Hex(der: ArrayBuffer | Buffer): string {
  return thumbprintOf(Buffer.from(der as ArrayBuffer));
}

async function readInput(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch {
    throw invalidArgument(`cannot read ${file}: check the file name`);
  }
}

/** Certificates of a file in PEM (one or more) or DER (one). */
async function readCertificates(file: string): Promise<x509.X509Certificate[]> {
  const content = await readInput(file);
  const text = content.toString("latin1");
  try {
    if (text.includes("-----BEGIN CERTIFICATE-----")) return parsePemCertificates(text);
    return [new x509.X509Certificate(new Uint8Array(content))];
  } catch {
    throw invalidArgument(`${file} does not hold an X.509 certificate in PEM or DER`);
  }
}

function groupAndType(groupName: string | undefined): { group: CertificateGroupSpec; type: CertificateTypeSpec } {
  const group = groupName ? groupByName(groupName) : DEFAULT_APPLICATION_GROUP;
  return { group, type: group.certificateTypes[0] };
}

function isoDate(d: Date): string {
  return d.toISOString();
}

/** The file of a CA folder that names the token key of a `ca renew --csr` request not installed yet. */
function nextTokenKeyReferenceFile(folder: string): string {
  return path.join(folder, "ca.next.key.pkcs11.json");
}

/** What every install or import report says of the CA now in place. */
async function installReport(group: CertificateGroupSpec, type: CertificateTypeSpec, ca: CertificateAuthority): Promise<Omit<CaInstallReport, "backupFolder" | "serverCertificateReissued">> {
  const certificate = ca.certificate;
  return {
    group: group.name,
    certificateType: type.name,
    folder: ca.folder,
    subject: certificate.subject,
    issuer: certificate.issuer,
    thumbprint: sha1Hex(certificate.rawData),
    kind: (await certificate.isSelfSigned()) ? "self-signed" : "subordinate",
    chainLength: ca.chain.length,
    keyEncrypted: ca.keyEncrypted,
    keyStorage: ca.keyStorage,
  };
}

/** The keyUsage flags a CA certificate must carry to sign certificates and CRLs. */
const CA_KEY_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

/**
 * Why `cert` cannot serve as a CA certificate now, or null. Checked on the certificate to install
 * and on each parent of its chain (a parent needs CA=TRUE; keyUsage, when present, keyCertSign).
 */
function caCertificateProblem(cert: x509.X509Certificate, nowMs: number, role: "the certificate" | "a chain certificate"): string | null {
  const name = `${role} ${cert.subject}`;
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) return `${name} is not a CA certificate (basicConstraints CA=TRUE is missing): have it issued as a CA certificate`;
  const usage = cert.getExtension(x509.KeyUsagesExtension);
  if (role === "the certificate") {
    if (!usage || (usage.usages & CA_KEY_USAGES) !== CA_KEY_USAGES) {
      return `${name} lacks keyUsage keyCertSign and cRLSign, which the GDS needs to sign certificates and CRLs: have it issued with both`;
    }
  } else if (usage && !(usage.usages & x509.KeyUsageFlags.keyCertSign)) {
    return `${name} may not sign certificates (keyUsage without keyCertSign)`;
  }
  if (cert.notAfter.getTime() <= nowMs) return `${name} expired on ${isoDate(cert.notAfter)}`;
  if (cert.notBefore.getTime() > nowMs + NOT_BEFORE_TOLERANCE_MS) return `${name} is not valid before ${isoDate(cert.notBefore)}: check the signer's clock, or install it later`;
  return null;
}

/**
 * The issuers of `cert` among `candidates`, nearest first, following subject/issuer names and
 * verified signatures until a self-signed certificate or a missing issuer. Candidates off the path
 * are dropped.
 */
async function issuerPath(cert: x509.X509Certificate, candidates: x509.X509Certificate[]): Promise<x509.X509Certificate[]> {
  const path: x509.X509Certificate[] = [];
  const remaining = [...candidates];
  let current = cert;
  while (!(await current.isSelfSigned())) {
    let found = -1;
    for (let i = 0; i < remaining.length; i++) {
      const candidate = remaining[i];
      if (candidate.subject !== current.issuer) continue;
      if (await current.verify({ publicKey: candidate.publicKey, signatureOnly: true }).catch(() => false)) {
        found = i;
        break;
      }
    }
    if (found < 0) break;
    current = remaining.splice(found, 1)[0];
    path.push(current);
  }
  return path;
}

/** Checks the chain of a CA certificate to install; returns the path (nearest parent first). */
async function checkChain(cert: x509.X509Certificate, candidates: x509.X509Certificate[], chainGiven: boolean, input: CertificateInput, nowMs: number): Promise<x509.X509Certificate[]> {
  const parents = await issuerPath(cert, candidates);
  const selfSigned = await cert.isSelfSigned();
  if (chainGiven && !selfSigned && parents.length === 0) {
    throw invalidArgument(`the certificate in ${input.certificateFile} is not signed by any certificate in ${input.chainFile ?? input.certificateFile} (its issuer is ${cert.issuer}): give the chain of the CA that signed it`);
  }
  for (const [i, parent] of parents.entries()) {
    const problem = caCertificateProblem(parent, nowMs, "a chain certificate");
    if (problem) throw invalidArgument(problem);
    // pathLenConstraint counts the CAs that may follow: the parents nearer than this one, plus the GDS's CA.
    const pathLength = parent.getExtension(x509.BasicConstraintsExtension)?.pathLength;
    if (pathLength !== undefined && pathLength < i + 1) {
      throw invalidArgument(`the chain certificate ${parent.subject} allows only ${pathLength} CA certificate(s) below it: certificates issued by the GDS's CA would not verify`);
    }
  }
  return parents;
}

/**
 * Administration of the CAs in a data folder: subordinate CA requests (`ca csr`), installation of
 * the signed certificate (`ca install`), import of an existing CA (`ca import`), status
 * (`ca show`). Works on files only; a running GDS picks the new CA up at its next start.
 */
export class CaAdministration {
  constructor(
    private readonly config: GdsConfig,
    private readonly paths: DataPaths,
    private readonly clock: Clock,
  ) {}

  /**
   * Writes a PKCS#10 request for the group's CA: a new RSA key (`config.caKeySize` bits) kept as
   * `ca.pending.key.pem` (mode 0600, encrypted with the CA passphrase when set), the request asking
   * for CA=TRUE and keyCertSign + cRLSign. A pending key from an earlier request is used again, so
   * that a request already out for signing stays installable.
   */
  async requestCertificate(options: { group?: string; subject?: string; next?: boolean } = {}): Promise<CaSigningRequest> {
    const { group, type } = groupAndType(options.group);
    const folder = this.paths.caFolder(group.name, type.name);
    const next = Boolean(options.next);
    if (next && !(await exists(CertificateAuthority.certificateFile(folder)))) {
      throw new GdsError("NotFound", `no CA in ${folder} to renew: run \`opcua-gds init --data ${this.paths.root}\` first`);
    }
    // A rollover request (`ca renew --csr`) has a key of its own: installing it keeps the current CA trusted.
    const pendingKeyFile = next ? CertificateAuthority.nextKeyFile(folder) : CertificateAuthority.pendingKeyFile(folder);
    const subject = options.subject ?? (await this.currentSubject(folder)) ?? defaultCaSubject(this.config, group.name);
    try {
      new x509.Name(subject);
    } catch {
      throw invalidArgument(`--subject "${subject}" is not a distinguished name like "CN=Plant 1 GDS CA, O=Plant 1"`);
    }

    await this.checkKeyProtection(folder);
    return this.withToken(async (token) => {
      const pending = await this.pendingKey(folder, token, next);
      let key: CaSigningKey;
      let pendingFile: string;
      if (pending) {
        ({ key, file: pendingFile } = pending);
      } else if (token) {
        // A label of its own, so that the current CA key (labelled by group) stays until `ca install`.
        const stamp = new Date(this.clock.nowMs()).toISOString().slice(0, 19).replace(/[-:]/g, "");
        const tokenKey = token.generateKey(`${defaultCaKeyLabel(group.name, type.name)}/${stamp}Z`, this.config.caKeySize);
        checkTokenKeyProtection(token, tokenKey);
        pendingFile = next ? nextTokenKeyReferenceFile(folder) : pendingTokenKeyReferenceFile(folder);
        await writeTokenKeyReference(pendingFile, token, tokenKey);
        key = tokenKey;
      } else {
        const keys = await generateRsaKeyPair(this.config.caKeySize);
        const keyObject = KeyObject.from(keys.privateKey as unknown as webcrypto.CryptoKey);
        pendingFile = pendingKeyFile;
        await fs.mkdir(folder, { recursive: true, mode: 0o700 });
        await writeCaKeyFile(pendingFile, keyObject, this.config.caPassphrase);
        key = await FileSigningKey.fromKeyObject(keyObject, pendingFile, Boolean(this.config.caPassphrase));
      }
      const { signingKey, crypto } = x509Signing(key);
      const publicKey = await publicCryptoKey(key);
      const csr = await x509.Pkcs10CertificateRequestGenerator.create(
        {
          name: subject,
          keys: { privateKey: signingKey, publicKey },
          signingAlgorithm: RSA_SHA256,
          extensions: [
            new x509.BasicConstraintsExtension(true, undefined, true),
            new x509.KeyUsagesExtension(CA_KEY_USAGES | x509.KeyUsageFlags.digitalSignature, true),
            await x509.SubjectKeyIdentifierExtension.create(publicKey),
          ],
        },
        crypto,
      );
      return { group: group.name, certificateType: type.name, subject, pem: csr.toString("pem"), pendingKeyFile: pendingFile, reusedPendingKey: pending !== null };
    });
  }

  /** The key of an earlier `ca csr` still waiting for its certificate (a key file, or a key in the token), or null. */
  private async pendingKey(folder: string, token: Pkcs11Token | undefined, next = false): Promise<{ key: CaSigningKey; file: string; install: NewCaKey } | null> {
    const file = next ? CertificateAuthority.nextKeyFile(folder) : CertificateAuthority.pendingKeyFile(folder);
    if (await exists(file)) {
      const { key } = await readCaKeyFile(file, this.config.caPassphrase);
      return { key: await FileSigningKey.fromKeyObject(key, file, Boolean(this.config.caPassphrase)), file, install: { kind: "file", key } };
    }
    const referenceFile = next ? nextTokenKeyReferenceFile(folder) : pendingTokenKeyReferenceFile(folder);
    const reference = await readTokenKeyReference(referenceFile);
    if (!reference) return null;
    const key = reference.resolve(token);
    return { key, file: referenceFile, install: { kind: "pkcs11", token: token as Pkcs11Token, key } };
  }

  /** Runs `work` with the configured PKCS#11 token open (undefined when none is configured), and closes it. */
  private async withToken<T>(work: (token: Pkcs11Token | undefined) => Promise<T>): Promise<T> {
    const token = openCaToken(this.config);
    try {
      return await work(token);
    } finally {
      token?.close();
    }
  }

  /**
   * Installs the signed certificate of the pending key: checks that it belongs to the pending key,
   * is a CA certificate with keyCertSign and cRLSign, is valid now and chains to the parents given
   * (extra certificates in the certificate file count as chain too). The previous CA files are
   * kept in a dated backup folder inside the CA folder.
   */
  async installCertificate(options: { group?: string } & CertificateInput): Promise<CaInstallReport> {
    const { group, type } = groupAndType(options.group);
    const folder = this.paths.caFolder(group.name, type.name);
    return this.withToken(async (token) => {
      const next = await this.pendingKey(folder, token, true);
      if (next) {
        const [certificate] = await readCertificates(options.certificateFile);
        if (next.key.publicKeySpki.equals(Buffer.from(certificate.publicKey.rawData))) return this.installNext(group, type, options, next, token);
      }
      const pending = await this.pendingKey(folder, token);
      if (!pending) {
        throw new GdsError("NotFound", `no pending CA key in ${folder}: run \`opcua-gds ca csr --data ${this.paths.root}${options.group ? ` --group ${group.name}` : ""}\` first and have that request signed (to bring a key of your own, use \`opcua-gds ca import\`)`);
      }
      const { certificate, parents } = await this.checkedCertificate(options, pending.key.publicKeySpki, (file) => `the certificate in ${file} does not belong to the pending key ${pending.file}: install the certificate signed for the request that \`opcua-gds ca csr\` wrote last`);
      const report = await this.replaceAuthority(group, type, certificate, pending.install, parents);
      await fs.rm(pending.file, { force: true });
      return report;
    });
  }

  /**
   * Rollover to the certificate of the `ca renew --csr` key: the current CA moves to `previous/`
   * and stays trusted until it retires (the database side follows at the next rollover check,
   * which `ca install` runs); the GDS's own certificate is not touched (it moves last).
   */
  private async installNext(group: CertificateGroupSpec, type: CertificateTypeSpec, input: CertificateInput, next: { key: CaSigningKey; file: string; install: NewCaKey }, token: Pkcs11Token | undefined): Promise<CaInstallReport> {
    const folder = this.paths.caFolder(group.name, type.name);
    const { certificate, parents } = await this.checkedCertificate(input, next.key.publicKeySpki, () => "unreachable: the key was matched before");
    await this.checkKeyProtection(folder);
    const current = await CertificateAuthority.load(folder, this.clock, this.config.caPassphrase, token);
    await installNextAuthority(folder, current, certificate, next.install, parents, this.config.caPassphrase);
    const ca = await CertificateAuthority.load(folder, this.clock, this.config.caPassphrase, token);
    await fs.rm(next.file, { force: true });
    return { ...(await installReport(group, type, ca)), backupFolder: null, serverCertificateReissued: false, rolloverFrom: current.serialHex };
  }

  /**
   * Makes an existing CA certificate and key (PEM) the group's CA, with the checks of
   * installCertificate plus: the key belongs to the certificate and is RSA of at least 2048 bits.
   * An encrypted key file is read with the CA passphrase.
   */
  async importAuthority(options: { group?: string; keyFile: string } & CertificateInput): Promise<CaInstallReport> {
    const { group, type } = groupAndType(options.group);
    const keyPem = (await readInput(options.keyFile)).toString("latin1");
    if (!/-----BEGIN (ENCRYPTED |RSA )?PRIVATE KEY-----/.test(keyPem)) {
      throw invalidArgument(`${options.keyFile} does not hold a PEM private key (PKCS#8 "PRIVATE KEY", "ENCRYPTED PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY")`);
    }
    const { key } = decodeCaPrivateKey(keyPem, this.config.caPassphrase, `the key in ${options.keyFile}`);
    if (key.asymmetricKeyType !== "rsa") throw invalidArgument(`the key in ${options.keyFile} is ${key.asymmetricKeyType ?? "not"} RSA: the GDS's certificate types are RSA/SHA-256, give an RSA CA key`);
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_CA_KEY_BITS) throw invalidArgument(`the key in ${options.keyFile} has ${bits} bits: a CA key needs at least ${MIN_CA_KEY_BITS}`);
    const { certificate, parents } = await this.checkedCertificate(options, publicKeySpkiOf(key), (file) => `the key in ${options.keyFile} does not belong to the certificate in ${file} (their public keys differ): give the key file of this certificate`);
    return this.replaceAuthority(group, type, certificate, { kind: "file", key }, parents);
  }

  /**
   * Makes an existing CA certificate the group's CA with its private key already in the configured
   * PKCS#11 token (found by its label), with the checks of importAuthority plus: the key is
   * sensitive, not extractable and may sign.
   */
  async importTokenAuthority(options: { group?: string; keyLabel: string } & CertificateInput): Promise<CaInstallReport> {
    const { group, type } = groupAndType(options.group);
    if (!this.config.caPkcs11) throw invalidArgument("--pkcs11-key needs a token: set OPCUA_GDS_CA_PKCS11_MODULE, OPCUA_GDS_CA_PKCS11_TOKEN and OPCUA_GDS_CA_PKCS11_PIN (or OPCUA_GDS_CA_PKCS11_PIN_FILE)");
    return this.withToken(async (token) => {
      const tokenKey = (token as Pkcs11Token).findKey(options.keyLabel);
      if (!tokenKey) throw invalidArgument(`the PKCS#11 token "${this.config.caPkcs11?.token}" holds no private key labelled "${options.keyLabel}": check the label (pkcs11-tool --list-objects --login shows them)`);
      checkTokenKeyProtection(token as Pkcs11Token, tokenKey);
      const bits = createPublicKey({ key: tokenKey.publicKeySpki, format: "der", type: "spki" }).asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < MIN_CA_KEY_BITS) throw invalidArgument(`the key "${options.keyLabel}" has ${bits} bits: a CA key needs at least ${MIN_CA_KEY_BITS}`);
      const { certificate, parents } = await this.checkedCertificate(options, tokenKey.publicKeySpki, (file) => `the key "${options.keyLabel}" in the token does not belong to the certificate in ${file} (their public keys differ): give the certificate of this key`);
      return this.replaceAuthority(group, type, certificate, { kind: "pkcs11", token: token as Pkcs11Token, key: tokenKey }, parents);
    });
  }

  /** The state of every group/type CA in the data folder; reads files only (needs no passphrase). */
  async describe(): Promise<CaDescription[]> {
    if (!(await exists(this.paths.root))) {
      throw new GdsError("Configuration", `no GDS data in ${this.paths.root}: run \`opcua-gds init --data ${this.paths.root}\` first, or give --data`);
    }
    const result: CaDescription[] = [];
    for (const group of CERTIFICATE_GROUPS) {
      for (const type of group.certificateTypes) {
        const folder = this.paths.caFolder(group.name, type.name);
        const certFile = CertificateAuthority.certificateFile(folder);
        const keyFile = CertificateAuthority.keyFile(folder);
        const pendingKey = (await exists(CertificateAuthority.pendingKeyFile(folder))) || (await exists(pendingTokenKeyReferenceFile(folder)));
        const nextKey = (await exists(CertificateAuthority.nextKeyFile(folder))) || (await exists(nextTokenKeyReferenceFile(folder)));
        const tokenKey = await readTokenKeyReference(tokenKeyReferenceFile(folder));
        if (!(await exists(certFile)) || !(tokenKey || (await exists(keyFile)))) {
          result.push({ group: group.name, certificateType: type.name, folder, present: false, pendingKey, nextKey });
          continue;
        }
        const certificate = new x509.X509Certificate(await fs.readFile(certFile, "utf8"));
        const chainFile = CertificateAuthority.chainFile(folder);
        const chain = (await exists(chainFile)) ? parsePemCertificates(await fs.readFile(chainFile, "utf8")) : [];
        result.push({
          group: group.name,
          certificateType: type.name,
          folder,
          present: true,
          subject: certificate.subject,
          issuer: certificate.issuer,
          serialNumber: certificate.serialNumber.toLowerCase(),
          notBefore: isoDate(certificate.notBefore),
          notAfter: isoDate(certificate.notAfter),
          thumbprint: sha1Hex(certificate.rawData),
          keyEncrypted: tokenKey ? false : isEncryptedPem(await fs.readFile(keyFile, "utf8")),
          keyStorage: tokenKey ? { kind: "pkcs11", token: tokenKey.reference.token, label: tokenKey.reference.label } : { kind: "file", encrypted: isEncryptedPem(await fs.readFile(keyFile, "utf8")) },
          kind: (await certificate.isSelfSigned()) ? "self-signed" : "subordinate",
          chain: chain.map((c) => ({ subject: c.subject, thumbprint: sha1Hex(c.rawData), notAfter: isoDate(c.notAfter) })),
          pendingKey,
          nextKey,
        });
      }
    }
    return result;
  }

  /**
   * A new CA key is written with the protection the current one has: when the current key is
   * encrypted, the configured passphrase must be set and must open it. Otherwise forgetting the
   * variable would silently store the new CA key in plaintext, and a mistyped passphrase would
   * leave the group's key encrypted with a passphrase no other key shares.
   */
  private async checkKeyProtection(folder: string): Promise<void> {
    const keyFile = CertificateAuthority.keyFile(folder);
    if (!(await exists(keyFile))) return;
    const pem = await fs.readFile(keyFile, "utf8");
    if (isEncryptedPem(pem)) decodeCaPrivateKey(pem, this.config.caPassphrase, `the current CA key ${keyFile}`);
  }

  private async currentSubject(folder: string): Promise<string | null> {
    const certFile = CertificateAuthority.certificateFile(folder);
    if (!(await exists(certFile))) return null;
    return new x509.X509Certificate(await fs.readFile(certFile, "utf8")).subject;
  }

  /** Reads the certificate (and chain) to install and runs every check against `key`. */
  private async checkedCertificate(input: CertificateInput, keySpki: Buffer, mismatch: (file: string) => string): Promise<{ certificate: x509.X509Certificate; parents: x509.X509Certificate[] }> {
    const [certificate, ...bundled] = await readCertificates(input.certificateFile);
    if (!keySpki.equals(Buffer.from(certificate.publicKey.rawData))) throw invalidArgument(mismatch(input.certificateFile));
    const nowMs = this.clock.nowMs();
    const problem = caCertificateProblem(certificate, nowMs, "the certificate");
    if (problem) throw invalidArgument(`${problem} (${input.certificateFile})`);
    const given = input.chainFile ? await readCertificates(input.chainFile) : [];
    const parents = await checkChain(certificate, [...given, ...bundled], Boolean(input.chainFile), input, nowMs);
    return { certificate, parents };
  }

  /**
   * Puts a new CA in place: the previous files go to a dated backup folder first (copies, so that
   * the folder never lacks a CA), then chain, key and certificate are written atomically one by one.
   * A crash between key and certificate leaves a pair that CertificateAuthority.load refuses with a
   * message pointing to the backup. Then the GDS's own certificate is issued again when it came
   * from the replaced CA, since clients that trust the new CA could not verify it.
   */
  private async replaceAuthority(group: CertificateGroupSpec, type: CertificateTypeSpec, certificate: x509.X509Certificate, key: NewCaKey, parents: x509.X509Certificate[]): Promise<CaInstallReport> {
    const folder = this.paths.caFolder(group.name, type.name);
    const passphrase = this.config.caPassphrase;
    await this.checkKeyProtection(folder);
    await fs.mkdir(folder, { recursive: true, mode: 0o700 });
    const backupFolder = await this.backup(folder);

    // One key per CA folder (file or token reference); the CRL beside the certificate was signed by the replaced key: it is in the backup.
    await writeAuthorityFiles(folder, certificate, key, parents, passphrase);

    // Proves the new files load as a CA (key matches, chain parses) before anything depends on them.
    const ca = await CertificateAuthority.load(folder, this.clock, passphrase, key.kind === "pkcs11" ? key.token : undefined);

    let serverCertificateReissued = false;
    if (group.name === DEFAULT_APPLICATION_GROUP.name && backupFolder && (await exists(this.paths.serverCertificate))) {
      const serverBackup = path.join(backupFolder, "server-pki");
      await fs.mkdir(serverBackup, { recursive: true, mode: 0o700 });
      await fs.rename(this.paths.serverCertificate, path.join(serverBackup, path.basename(this.paths.serverCertificate)));
      if (await exists(this.paths.serverPrivateKey)) await fs.rename(this.paths.serverPrivateKey, path.join(serverBackup, path.basename(this.paths.serverPrivateKey)));
      const registry = await CaRegistry.loadOrCreate(this.config, this.paths, this.clock);
      try {
        serverCertificateReissued = await ensureServerCertificate(this.config, this.paths, registry);
      } finally {
        registry.close();
      }
    }

    return { ...(await installReport(group, type, ca)), backupFolder, serverCertificateReissued };
  }

  /** Copies the CA files of `folder` into `folder/backup-<UTC time>/` (mode 0700); null when there are none. */
  private async backup(folder: string): Promise<string | null> {
    const names = ["ca.cert.pem", "ca.key.pem", "ca.key.pkcs11.json", "ca.chain.pem", "ca.crl.pem"];
    const present = [];
    for (const name of names) if (await exists(path.join(folder, name))) present.push(name);
    if (present.length === 0) return null;
    const stamp = new Date(this.clock.nowMs()).toISOString().slice(0, 19).replace(/[-:]/g, "");
    let backupFolder = "";
    for (let n = 1; ; n++) {
      backupFolder = path.join(folder, `backup-${stamp}Z${n > 1 ? `-${n}` : ""}`);
      try {
        await fs.mkdir(backupFolder, { mode: 0o700 });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
    }
    for (const name of present) {
      const content = await fs.readFile(path.join(folder, name));
      if (name === "ca.key.pem") await writePrivateKeyFile(path.join(backupFolder, name), content.toString("latin1"));
      else await writePublicFile(path.join(backupFolder, name), content);
    }
    return backupFolder;
  }
}
