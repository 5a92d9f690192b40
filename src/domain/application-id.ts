import { invalidArgument } from "./errors";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * ApplicationIds are GUID NodeIds in the GDS server's own namespace (index 1, the application
 * namespace every OPC UA server has), so their string form is stable without a session.
 */
export const APPLICATION_ID_NAMESPACE = 1;

/** The standard string form of an ApplicationId, e.g. `ns=1;g=72962b91-fa75-4ae6-8d28-b404dc7daf63`. */
export function formatApplicationId(guid: string): string {
  return `ns=${APPLICATION_ID_NAMESPACE};g=${guid.toLowerCase()}`;
}

/**
 * Accepts `ns=1;g=GUID`, `g=GUID` or a bare GUID and returns the GUID in lower case.
 * Anything else is not an ApplicationId this GDS could have issued.
 */
export function parseApplicationId(text: string): string {
  const trimmed = String(text).trim();
  const m = /^(?:ns=(\d+);)?(?:g=)?([0-9a-fA-F-]{36})$/.exec(trimmed);
  if (!m || !GUID.test(m[2]) || (m[1] !== undefined && Number(m[1]) !== APPLICATION_ID_NAMESPACE)) {
    throw invalidArgument(`"${trimmed.slice(0, 80)}" is not an ApplicationId (expected ns=${APPLICATION_ID_NAMESPACE};g=<GUID>)`);
  }
  return m[2].toLowerCase();
}

/** True for a GUID string. */
export function isGuid(text: string): boolean {
  return GUID.test(text);
}
