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

/**
 * The certificate authorities of the GDS: one per certificate group and type, each in its folder.
 * The CA passphrase comes from the configuration (never read from the environment here).
 */
export class CaRegistry {
  private constructor(
    private readonly authorities: Map<string, CertificateAuthority>,
    private readonly token: Pkcs11Token | undefined,
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
      const map = new Map<string, CertificateAuthority>();
      for (const group of CERTIFICATE_GROUPS) {
        for (const type of group.certificateTypes) {
          const ca = await CertificateAuthority.loadOrCreate(
            paths.caFolder(group.name, type.name),
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
          map.set(`${group.name}/${type.name}`, ca);
        }
      }
      return new CaRegistry(map, token);
    } catch (e) {
      token?.close();
      throw e;
    }
  }

  /** Releases the PKCS#11 token, if any; the CAs can no longer sign. */
  close(): void {
    this.token?.close();
  }

  /** The CA of a group and type. */
  authority(group: CertificateGroupSpec | string, type: CertificateTypeSpec | string): CertificateAuthority {
    const key = `${typeof group === "string" ? group : group.name}/${typeof type === "string" ? type : type.name}`;
    const ca = this.authorities.get(key);
    if (!ca) throw new GdsError("Configuration", `no certificate authority for ${key}`);
    return ca;
  }
}
