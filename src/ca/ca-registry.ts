import type { GdsConfig } from "../config/config";
import type { DataPaths } from "../config/data-folder";
import { CERTIFICATE_GROUPS, type CertificateGroupSpec, type CertificateTypeSpec } from "../domain/certificate-groups";
import type { Clock } from "../domain/clock";
import { GdsError } from "../domain/errors";
import { CertificateAuthority } from "./certificate-authority";

/** The certificate authorities of the GDS: one per certificate group and type, each in its folder. */
export class CaRegistry {
  private constructor(private readonly authorities: Map<string, CertificateAuthority>) {}

  /** Loads every CA, creating the missing ones (never replacing a key). */
  static async loadOrCreate(config: GdsConfig, paths: DataPaths, clock: Clock): Promise<CaRegistry> {
    const map = new Map<string, CertificateAuthority>();
    for (const group of CERTIFICATE_GROUPS) {
      for (const type of group.certificateTypes) {
        const ca = await CertificateAuthority.loadOrCreate(
          paths.caFolder(group.name, type.name),
          { subject: `CN=opcua-gds ${group.name} CA, O=opcua-gds, DC=${config.hostname}`, keySize: config.caKeySize, lifetimeDays: config.caLifetimeDays },
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
