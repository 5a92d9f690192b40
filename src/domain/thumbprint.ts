import { createHash } from "node:crypto";

/** SHA-1 thumbprint (hex, lower case) of a DER certificate: how OPC UA names a certificate. */
export function thumbprintOf(der: Uint8Array): string {
  return createHash("sha1").update(der).digest("hex");
}
