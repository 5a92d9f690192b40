import { GdsError, invalidArgument } from "./errors";

/** A certificate type the GDS issues, with its NodeId in namespace 0. */
export interface CertificateTypeSpec {
  name: string;
  /** Numeric id in namespace 0 (OPC 10000-12 §7.8.4). */
  nodeNumericId: number;
}

export const CERTIFICATE_TYPES = {
  RsaSha256ApplicationCertificateType: { name: "RsaSha256ApplicationCertificateType", nodeNumericId: 12560 },
  HttpsCertificateType: { name: "HttpsCertificateType", nodeNumericId: 12558 },
  UserCertificateType: { name: "UserCertificateType", nodeNumericId: 19323 },
} as const satisfies Record<string, CertificateTypeSpec>;

/** A certificate group of the GDS's Directory: its CA per type and its TrustList object. */
export interface CertificateGroupSpec {
  name: "DefaultApplicationGroup" | "DefaultHttpsGroup" | "DefaultUserTokenGroup";
  /** Numeric ids in the GDS namespace (GDS NodeSet 1.05.07). */
  nodeNumericId: number;
  trustListNumericId: number;
  /** The first type is the group's default (a null CertificateTypeId means it). */
  certificateTypes: readonly CertificateTypeSpec[];
}

export const CERTIFICATE_GROUPS: readonly CertificateGroupSpec[] = [
  { name: "DefaultApplicationGroup", nodeNumericId: 615, trustListNumericId: 616, certificateTypes: [CERTIFICATE_TYPES.RsaSha256ApplicationCertificateType] },
  { name: "DefaultHttpsGroup", nodeNumericId: 649, trustListNumericId: 650, certificateTypes: [CERTIFICATE_TYPES.HttpsCertificateType] },
  { name: "DefaultUserTokenGroup", nodeNumericId: 683, trustListNumericId: 684, certificateTypes: [CERTIFICATE_TYPES.UserCertificateType] },
];

export const DEFAULT_APPLICATION_GROUP = CERTIFICATE_GROUPS[0];

/** The group a CertificateGroupId names; null names DefaultApplicationGroup (OPC 10000-12 §7.9.3). */
export function groupByNodeNumericId(id: number | null): CertificateGroupSpec {
  if (id === null) return DEFAULT_APPLICATION_GROUP;
  const group = CERTIFICATE_GROUPS.find((g) => g.nodeNumericId === id);
  if (!group) throw invalidArgument(`CertificateGroupId ${id} is not a certificate group of this GDS`);
  return group;
}

/** The group with this name (CLI, configuration). */
export function groupByName(name: string): CertificateGroupSpec {
  const group = CERTIFICATE_GROUPS.find((g) => g.name.toLowerCase() === name.toLowerCase());
  if (!group) throw new GdsError("InvalidArgument", `unknown certificate group "${name}"; known: ${CERTIFICATE_GROUPS.map((g) => g.name).join(", ")}`);
  return group;
}

/** The certificate type a CertificateTypeId names within a group; null names the group's default. */
export function typeOfGroup(group: CertificateGroupSpec, id: number | null): CertificateTypeSpec {
  if (id === null) return group.certificateTypes[0];
  const type = group.certificateTypes.find((t) => t.nodeNumericId === id);
  if (!type) throw invalidArgument(`CertificateTypeId i=${id} is not served by ${group.name}`);
  return type;
}
