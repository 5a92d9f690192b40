import { X509Certificate, createHash, createPublicKey, type KeyObject } from "node:crypto";
import fsSync from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { invalidArgument } from "../domain/errors";
import { derToPem, pemBlocks } from "../domain/pem";
import { privateKeyObject, privateKeyPem, type PrivateKeyInput } from "./application-keys";
import { decodeCertificate, decodeCrl, type CertificateInfo, type TrustList } from "./decoded";
import { isProcessAlive } from "./store-lock";

/**
 * The files of a PKI store, relative to its folder, in the layout of OPC 10000-12 Annex F that
 * node-opcua, UA-.NETStandard and open62541 read (README: "PKI store layout").
 */
export const PKI_STORE_FILES = {
  /** The application certificate followed by its issuer chain, PEM: node-opcua's default `certificateFile`. */
  certificatePem: "own/certs/certificate.pem",
  /** The same certificate, DER: UA-.NETStandard's directory store, open62541. */
  certificateDer: "own/certs/certificate.der",
  /** The private key, PKCS#8 PEM, mode 0600: node-opcua's default `privateKeyFile`. */
  privateKey: "own/private/private_key.pem",
  /** The same key under the certificate's file name: how UA-.NETStandard pairs key and certificate. */
  privateKeyByCertificateName: "own/private/certificate.pem",
  /** What was written, when, and a digest of it (so that an unchanged store is not rewritten). */
  manifest: "opcua-gds-store.json",
} as const;

/** Top-level folders the store owns; everything else (rejected/, ...) is carried over on rewrite. */
const MANAGED_TOP_LEVEL = new Set(["own", "trusted", "issuers", PKI_STORE_FILES.manifest]);

/** What `provision` writes. */
export interface PkiMaterial {
  /** The application certificate, DER. */
  certificate: Buffer;
  privateKey: PrivateKeyInput;
  /** Issuers of the certificate, nearest first (FinishRequest's IssuerCertificates), DER. */
  issuerCertificates?: Buffer[];
  /** The trust list: decoded (GdsClient.getTrustList) or the four DER lists. */
  trustList: TrustList | { trustedCertificates: Buffer[]; trustedCrls: Buffer[]; issuerCertificates: Buffer[]; issuerCrls: Buffer[] };
}

/** The manifest kept in the store. */
export interface PkiManifest {
  writtenAt: string;
  /** SHA-256 over every file written (path and content). */
  contentDigest: string;
  /** SHA-256 over the trusted and issuer certificates and CRLs only (a trust list change). */
  trustDigest: string;
  certificate: { thumbprint: string; serialNumber: string; subject: string; applicationUri: string | null; notBefore: string; notAfter: string };
  trustedCertificates: number;
  trustedCrls: number;
  issuerCertificates: number;
  issuerCrls: number;
}

/** What provision did. */
export interface ProvisionResult {
  /** False when the store already held exactly this content (nothing was written). */
  changed: boolean;
  manifest: PkiManifest;
}

/** Options of provision. */
export interface ProvisionOptions {
  /**
   * Called with the complete staged folder before it replaces the store (e.g. to test that a server
   * loads it); a rejection keeps the previous store and removes the staged one.
   */
  beforeSwap?: (stagedFolder: string) => Promise<void>;
  /** Clock for the manifest, default now. */
  now?: Date;
}

/** The siblings a store uses while it is rewritten. */
export function stagingPaths(dir: string): { previous: string; stagingPrefix: string } {
  const resolved = path.resolve(dir);
  return { previous: `${resolved}.previous`, stagingPrefix: `${resolved}.new-` };
}

const DER_OF = (x: Buffer | { der: Buffer }): Buffer => (Buffer.isBuffer(x) ? x : x.der);

function sha1(der: Buffer): string {
  return createHash("sha1").update(der).digest("hex");
}

/** Every file of the store's managed part, path -> content, and whether it is secret. */
function storeFiles(material: PkiMaterial): Array<{ file: string; content: Buffer; secret: boolean }> {
  const key = privateKeyObject(material.privateKey);
  const certificate = decodeCertificate(material.certificate);
  const certificateKey = new X509Certificate(material.certificate).publicKey.export({ type: "spki", format: "der" });
  if (!createPublicKey(key).export({ type: "spki", format: "der" }).equals(certificateKey)) throw invalidArgument("the private key does not belong to the certificate");
  const keyPem = Buffer.from(privateKeyPem(key));
  const files: Array<{ file: string; content: Buffer; secret: boolean }> = [
    // node-opcua sends what certificate.pem holds: the chain lets peers that lack the issuers verify it.
    { file: PKI_STORE_FILES.certificatePem, content: Buffer.from([certificate.der, ...(material.issuerCertificates ?? [])].map((d) => derToPem(d, "CERTIFICATE")).join("")), secret: false },
    { file: PKI_STORE_FILES.certificateDer, content: certificate.der, secret: false },
    { file: PKI_STORE_FILES.privateKey, content: keyPem, secret: true },
    { file: PKI_STORE_FILES.privateKeyByCertificateName, content: keyPem, secret: true },
  ];
  const list = material.trustList;
  const trusted = list.trustedCertificates.map(DER_OF);
  const trustedThumbprints = new Set(trusted.map(sha1));
  // The certificate's own issuers that the trust list does not already trust complete its chain.
  const issuers = [...list.issuerCertificates.map(DER_OF), ...(material.issuerCertificates ?? [])].filter((der) => !trustedThumbprints.has(sha1(der)));
  const unique = (ders: Buffer[]) => [...new Map(ders.map((d) => [sha1(d), d])).entries()];
  for (const [thumb, der] of unique(trusted)) files.push({ file: `trusted/certs/${thumb}.der`, content: der, secret: false });
  for (const [thumb, der] of unique(list.trustedCrls.map(DER_OF))) files.push({ file: `trusted/crl/${thumb}.crl`, content: der, secret: false });
  for (const [thumb, der] of unique(issuers)) files.push({ file: `issuers/certs/${thumb}.der`, content: der, secret: false });
  for (const [thumb, der] of unique(list.issuerCrls.map(DER_OF))) files.push({ file: `issuers/crl/${thumb}.crl`, content: der, secret: false });
  return files.sort((a, b) => a.file.localeCompare(b.file));
}

function digestOf(files: Array<{ file: string; content: Buffer }>): string {
  const hash = createHash("sha256");
  for (const f of files) hash.update(f.file).update("\0").update(f.content).update("\0");
  return hash.digest("hex");
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Repairs what an interrupted `provision` left: when the process died between the two renames of
 * the swap, the previous store is put back; a completed swap's leftover and staged folders of dead
 * processes are removed. Returns what it did, one line each.
 */
export async function recoverPkiStore(dir: string): Promise<string[]> {
  const store = path.resolve(dir);
  const { previous, stagingPrefix } = stagingPaths(store);
  const done: string[] = [];
  if (await exists(previous)) {
    if (!(await exists(store))) {
      await fs.rename(previous, store);
      done.push(`restored the previous store ${store} (a rewrite was interrupted between its two renames)`);
    } else {
      await fs.rm(previous, { recursive: true, force: true });
      done.push(`removed ${previous} (left by a completed rewrite)`);
    }
  }
  const parent = path.dirname(store);
  const prefix = path.basename(stagingPrefix);
  for (const name of await fs.readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && isProcessAlive(pid)) continue;
    await fs.rm(path.join(parent, name), { recursive: true, force: true });
    done.push(`removed the staged folder ${name} of an interrupted rewrite`);
  }
  return done;
}

async function writeDurably(file: string, content: Buffer, mode: number): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: file.includes(`${path.sep}private${path.sep}`) ? 0o700 : 0o755 });
  const handle = await fs.open(file, "wx", mode);
  try {
    await handle.writeFile(content);
    // The mode given to open is filtered by the umask: set it exactly.
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncFolder(folder: string): Promise<void> {
  // Makes the renames durable on POSIX; Windows cannot open a folder for fsync, and needs not.
  if (process.platform === "win32") return;
  const handle = await fs.open(folder, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes an application's certificate, private key, issuers, trusted certificates and CRLs into the
 * PKI store `dir` (created when absent), atomically: the whole store is written into a sibling
 * folder first and then renamed into place, so a reader, or a process that dies half-way, never
 * sees a half-written store; the previous store stays intact until the new one is complete. Keys
 * are written with mode 0600 in a 0700 folder. Folders the store does not own (rejected/) are
 * carried over. Not for two writers at once: the agent holds a lock (acquireStoreLock).
 */
export async function provision(dir: string, material: PkiMaterial, options: ProvisionOptions = {}): Promise<ProvisionResult> {
  const store = path.resolve(dir);
  await recoverPkiStore(store);
  const files = storeFiles(material);
  const contentDigest = digestOf(files);
  const current = await readManifest(store);
  const list = material.trustList;
  const certificate = decodeCertificate(material.certificate);
  const manifest: PkiManifest = {
    writtenAt: (options.now ?? new Date()).toISOString(),
    contentDigest,
    trustDigest: digestOf(files.filter((f) => !f.file.startsWith("own/"))),
    certificate: {
      thumbprint: certificate.thumbprint,
      serialNumber: certificate.serialNumber,
      subject: certificate.subject,
      applicationUri: certificate.applicationUri,
      notBefore: certificate.notBefore.toISOString(),
      notAfter: certificate.notAfter.toISOString(),
    },
    trustedCertificates: list.trustedCertificates.length,
    trustedCrls: list.trustedCrls.length,
    issuerCertificates: files.filter((f) => f.file.startsWith("issuers/certs/")).length,
    issuerCrls: list.issuerCrls.length,
  };
  if (current?.contentDigest === contentDigest && (await storeMatches(store, files))) return { changed: false, manifest: current };

  const { previous, stagingPrefix } = stagingPaths(store);
  const staged = `${stagingPrefix}${process.pid}-${Date.now().toString(36)}`;
  await fs.mkdir(path.dirname(store), { recursive: true });
  await fs.mkdir(staged, { mode: 0o755 });
  try {
    for (const f of files) await writeDurably(path.join(staged, ...f.file.split("/")), f.content, f.secret ? 0o600 : 0o644);
    for (const sub of ["trusted/certs", "trusted/crl", "issuers/certs", "issuers/crl"]) await fs.mkdir(path.join(staged, ...sub.split("/")), { recursive: true });
    await fs.chmod(path.join(staged, "own", "private"), 0o700);
    if (await exists(store)) {
      for (const name of await fs.readdir(store)) {
        if (!MANAGED_TOP_LEVEL.has(name)) await fs.cp(path.join(store, name), path.join(staged, name), { recursive: true, preserveTimestamps: true });
      }
    }
    await writeDurably(path.join(staged, PKI_STORE_FILES.manifest), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), 0o644);
    await options.beforeSwap?.(staged);
  } catch (e) {
    await fs.rm(staged, { recursive: true, force: true });
    throw e;
  }
  // The swap: two renames back to back, without yielding in between. A process killed between
  // them leaves the previous store complete under `previous`, put back by recoverPkiStore.
  if (fsSync.existsSync(store)) {
    fsSync.renameSync(store, previous);
    fsSync.renameSync(staged, store);
  } else {
    fsSync.renameSync(staged, store);
  }
  await syncFolder(path.dirname(store));
  await fs.rm(previous, { recursive: true, force: true });
  return { changed: true, manifest };
}

/** True when every managed file in the store has exactly the given content (none edited by hand). */
async function storeMatches(store: string, files: Array<{ file: string; content: Buffer }>): Promise<boolean> {
  for (const f of files) {
    const content = await fs.readFile(path.join(store, ...f.file.split("/"))).catch(() => null);
    if (!content || !content.equals(f.content)) return false;
  }
  return true;
}

async function readManifest(store: string): Promise<PkiManifest | null> {
  try {
    return JSON.parse(await fs.readFile(path.join(store, PKI_STORE_FILES.manifest), "utf8")) as PkiManifest;
  } catch {
    return null;
  }
}

async function derFiles(folder: string): Promise<Buffer[]> {
  const names = await fs.readdir(folder).catch(() => [] as string[]);
  return Promise.all(names.filter((n) => /\.(der|crl|cer)$/i.test(n)).sort().map((n) => fs.readFile(path.join(folder, n))));
}

/** What a PKI store holds, as read back. */
export interface PkiStoreContent {
  certificate: CertificateInfo | null;
  /** The certificate's issuers, nearest first, as certificate.pem holds them after the certificate. */
  certificateIssuers: Buffer[];
  privateKey: KeyObject | null;
  manifest: PkiManifest | null;
  trustedCertificates: CertificateInfo[];
  trustedCrls: Buffer[];
  issuerCertificates: CertificateInfo[];
  issuerCrls: Buffer[];
}

/**
 * Reads a PKI store written by `provision` (missing parts are null or empty; an unreadable
 * certificate or key counts as missing). The trusted CRLs are checked to decode.
 */
export async function readPkiStore(dir: string): Promise<PkiStoreContent> {
  const store = path.resolve(dir);
  const file = (rel: string) => path.join(store, ...rel.split("/"));
  let certificate: CertificateInfo | null = null;
  let privateKey: KeyObject | null = null;
  let certificateIssuers: Buffer[] = [];
  try {
    certificate = decodeCertificate(await fs.readFile(file(PKI_STORE_FILES.certificateDer)));
    privateKey = privateKeyObject(await fs.readFile(file(PKI_STORE_FILES.privateKey)));
    const chain = pemBlocks(await fs.readFile(file(PKI_STORE_FILES.certificatePem), "latin1")).filter((b) => b.label === "CERTIFICATE");
    certificateIssuers = chain.slice(1).map((b) => b.der);
  } catch {
    certificate = null;
    privateKey = null;
  }
  const decodable = (ders: Buffer[]) =>
    ders.filter((d) => {
      try {
        decodeCrl(d);
        return true;
      } catch {
        return false;
      }
    });
  return {
    certificate,
    certificateIssuers,
    privateKey,
    manifest: await readManifest(store),
    trustedCertificates: (await derFiles(file("trusted/certs"))).map(decodeCertificate),
    trustedCrls: decodable(await derFiles(file("trusted/crl"))),
    issuerCertificates: (await derFiles(file("issuers/certs"))).map(decodeCertificate),
    issuerCrls: decodable(await derFiles(file("issuers/crl"))),
  };
}
