import { invalidArgument } from "./errors";

/** The well-known roles a GDS user can hold (OPC 10000-12 §9 and OPC 10000-18). */
export const ROLES = ["SecurityAdmin", "DiscoveryAdmin", "CertificateAuthorityAdmin", "RegistrationAuthorityAdmin"] as const;
export type Role = (typeof ROLES)[number];

/** Parses "R1,R2" into known role names; an unknown name is an error that lists the known ones. */
export function parseRoles(text: string): Role[] {
  const names = text
    .split(",")
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  const roles: Role[] = [];
  for (const name of names) {
    const role = ROLES.find((r) => r.toLowerCase() === name.toLowerCase());
    if (!role) throw invalidArgument(`unknown role "${name}"; known roles: ${ROLES.join(", ")}`);
    if (!roles.includes(role)) roles.push(role);
  }
  return roles;
}
