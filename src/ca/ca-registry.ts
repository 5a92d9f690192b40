import type { GdsConfig } from "../config/config";
import type { DataPaths } from "../config/data-folder";
import { CERTIFICATE_GROUPS, type CertificateGroupSpec, type CertificateTypeSpec } from "../domain/certificate-groups";
import type { Clock } from "../domain/clock";
import { GdsError } from "../domain/errors";
import { CertificateAuthority } from "./certificate-authority";

/** Subject of a CA the GDS creates for a group (self-signed at first start, or requested with `ca csr`). */
export function defaultCaSubject(config: Pick<GdsConfig, "hostname">, groupName: string): string {
  return `CN=opcua-gds ${groupName} CA, O=opcua-gds, DC=${config.hostname}`;
}

/**
 * The certificate authorities of the GDS: one per certificate group and type, each in its folder.
 * The CA passphrase comes from the configuration (never read from the environment here).
 */
export class CaRegistry {
  private constructor(private readonly authorities: Map<string, CertificateAuthority>) {}

  /**
   * Loads every CA, creating the missing ones (never replacing a key) with `config.caKeySize` bits,
   * encrypted with `config.caPassphrase` when set (which also re-encrypts plaintext keys).
   */
  static async loadOrCreate(config: GdsConfig, paths: DataPaths, clock: Clock): Promise<CaRegistry> {
    const map = new Map<string, CertificateAuthority>();
    for (const group of CERTIFICATE_GROUPS) {
      for (const type of group.certificateTypes) {
        const ca = await CertificateAuthority.loadOrCreate(
          paths.caFolder(group.name, type.name),
          { subject: defaultCaSubject(config, group.name), keySize: config.caKeySize, lifetimeDays: config.caLifetimeDays, passphrase: config.caPassphrase },
          clock,
        );
        map.set(`${group.name}/${type.name}`, ca);
      }
    }
    return new CaRegistry(map);
  }

  /** The CA of a group and type. */
  authority(group: CertificateGroupSpec | string, type: CertificateTypeSpec | string): CertificateAuthority {
    const key = `${typeof group === "string" ? group : group.name}/${typeof type === "string" ? type : type.name}`;
    const ca = this.authorities.get(key);
    if (!ca) throw new GdsError("Configuration", `no certificate authority for ${key}`);
    return ca;
  }
}
