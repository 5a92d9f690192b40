import fs from "node:fs/promises";
import type { GdsConfig } from "../config/config";
import type { DataPaths } from "../config/data-folder";
import { CERTIFICATE_GROUPS, type CertificateGroupSpec, type CertificateTypeSpec } from "../domain/certificate-groups";
import type { Clock } from "../domain/clock";
import { GdsError } from "../domain/errors";
import { CertificateAuthority } from "./certificate-authority";
import { Pkcs11Token } from "./pkcs11-token";

/** Subject of a CA the GDS creates for a group (self-signed at first start, or requested with `ca csr`). */
export function defaultCaSubject(config: Pick<GdsConfig, "hostname">, groupName: string): string {
  return `CN=opcua-gds ${groupName} CA, O=opcua-gds, DC=${config.hostname}`;
}

/** Label of a group's CA key in a PKCS#11 token, when the GDS generates it. */
export function defaultCaKeyLabel(groupName: string, typeName: string): string {
  return `opcua-gds/${groupName}/${typeName}`;
}

/** Opens the token of the CA keys when one is configured (callers close it). */
export function openCaToken(config: Pick<GdsConfig, "caPkcs11">): Pkcs11Token | undefined {
  return config.caPkcs11 ? Pkcs11Token.open(config.caPkcs11) : undefined;
}

/** The CAs of one group and type: the current one, and those a rollover superseded (oldest first). */
export interface CaGeneration {
  current: CertificateAuthority;
  previous: CertificateAuthority[];
  /** What the files looked like when loaded: a change means another process renewed or retired a CA. */
  signature: string;
}

/** A short description of a CA folder's files that changes whenever a CA is written, renewed or retired. */
async function folderSignature(folder: string): Promise<string> {
  const cert = await fs.stat(CertificateAuthority.certificateFile(folder)).catch(() => null);
  const previous = await fs.readdir(CertificateAuthority.previousFolder(folder)).catch(() => [] as string[]);
  return `${cert?.ino}:${cert?.mtimeMs}:${cert?.size}|${previous.sort().join(",")}`;
}

async function loadPrevious(folder: string, clock: Clock, passphrase: string | undefined, token: Pkcs11Token | undefined, currentSerialHex: string): Promise<CertificateAuthority[]> {
  const names = await fs.readdir(CertificateAuthority.previousFolder(folder)).catch(() => [] as string[]);
  const loaded: CertificateAuthority[] = [];
  for (const name of names) {
    // A rollover interrupted before the new certificate was written leaves a copy of the current CA.
    if (name === currentSerialHex || name.endsWith(".tmp")) continue;
    loaded.push(await CertificateAuthority.load(CertificateAuthority.previousFolder(folder, name), clock, passphrase, token));
  }
  return loaded.sort((a, b) => a.certificate.notBefore.getTime() - b.certificate.notBefore.getTime());
}

/**
 * The certificate authorities of the GDS: per certificate group and type, the current CA and the
 * CAs a rollover superseded, each in its folder. The CA passphrase comes from the configuration
 * (never read from the environment here).
 */
export class CaRegistry {
  private constructor(
    private readonly authorities: Map<string, CaGeneration>,
    private readonly token: Pkcs11Token | undefined,
    private readonly config: GdsConfig,
    private readonly paths: DataPaths,
    private readonly clock: Clock,
  ) {}

  /**
   * Loads every CA, creating the missing ones (never replacing a key) with `config.caKeySize` bits:
   * inside the PKCS#11 token when `config.caPkcs11` is set, else as key files encrypted with
   * `config.caPassphrase` when set (which also re-encrypts plaintext keys). Close the registry to
   * log out of the token.
   */
  static async loadOrCreate(config: GdsConfig, paths: DataPaths, clock: Clock): Promise<CaRegistry> {
    const token = openCaToken(config);
    try {
      const map = new Map<string, CaGeneration>();
      for (const group of CERTIFICATE_GROUPS) {
        for (const type of group.certificateTypes) {
          const folder = paths.caFolder(group.name, type.name);
          const current = await CertificateAuthority.loadOrCreate(
            folder,
            {
              subject: defaultCaSubject(config, group.name),
              keySize: config.caKeySize,
              lifetimeDays: config.caLifetimeDays,
              passphrase: config.caPassphrase,
              token,
              keyLabel: defaultCaKeyLabel(group.name, type.name),
            },
            clock,
          );
          const signature = await folderSignature(folder);
          map.set(`${group.name}/${type.name}`, { current, previous: await loadPrevious(folder, clock, config.caPassphrase, token, current.serialHex), signature });
        }
      }
      return new CaRegistry(map, token, config, paths, clock);
    } catch (e) {
      token?.close();
      throw e;
    }
  }

  /** Releases the PKCS#11 token, if any; the CAs can no longer sign. */
  close(): void {
    this.token?.close();
  }

  /** The PKCS#11 token of the CA keys, when one is configured (a rollover makes its new key there). */
  get caToken(): Pkcs11Token | undefined {
    return this.token;
  }

  private generation(group: CertificateGroupSpec | string, type: CertificateTypeSpec | string): CaGeneration {
    const key = `${typeof group === "string" ? group : group.name}/${typeof type === "string" ? type : type.name}`;
    const generation = this.authorities.get(key);
    if (!generation) throw new GdsError("Configuration", `no certificate authority for ${key}`);
    return generation;
  }

  /** The current CA of a group and type. */
  authority(group: CertificateGroupSpec | string, type: CertificateTypeSpec | string): CertificateAuthority {
    return this.generation(group, type).current;
  }

  /** The CAs of a group and type that a rollover superseded and that have not retired, oldest first. */
  previous(group: CertificateGroupSpec | string, type: CertificateTypeSpec | string): CertificateAuthority[] {
    return this.generation(group, type).previous;
  }

  /**
   * Reloads the CAs whose files changed since they were loaded. A folder caught in the middle of a
   * change (a key without its certificate) keeps what was loaded; the next call tries again.
   */
  async refresh(): Promise<boolean> {
    let changed = false;
    for (const [key, generation] of this.authorities) {
      const [groupName, typeName] = key.split("/");
      const folder = this.paths.caFolder(groupName, typeName);
      const signature = await folderSignature(folder);
      if (signature === generation.signature) continue;
      try {
        const current = await CertificateAuthority.load(folder, this.clock, this.config.caPassphrase, this.token);
        const previous = await loadPrevious(folder, this.clock, this.config.caPassphrase, this.token, current.serialHex);
        this.authorities.set(key, { current, previous, signature });
        changed = true;
      } catch {
        // Half written by another process: the CA loaded before stays in use until the files agree.
      }
    }
    return changed;
  }
}
