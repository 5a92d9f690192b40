import { invalidArgument } from "./errors";

/** ApplicationType enumeration of OPC 10000-4. */
export enum ApplicationType {
  Server = 0,
  Client = 1,
  ClientAndServer = 2,
  DiscoveryServer = 3,
}

/** A LocalizedText without the OPC UA classes, so the domain stays free of the stack. */
export interface LocalizedName {
  locale: string | null;
  text: string;
}

/** The content of an ApplicationRecordDataType, as the GDS keeps it. */
export interface ApplicationFields {
  applicationUri: string;
  applicationType: ApplicationType;
  applicationNames: LocalizedName[];
  productUri: string;
  discoveryUrls: string[];
  serverCapabilities: string[];
}

/** A registered application: its fields plus the identity and bookkeeping the GDS assigns. */
export interface ApplicationRecord extends ApplicationFields {
  /** GUID of the ApplicationId NodeId, lower case. */
  applicationId: string;
  /** Monotonically increasing id assigned on every create and update (QueryApplications paging). */
  recordId: number;
  createdAtMs: number;
  updatedAtMs: number;
}

/** Limits that keep one record small enough for every database and every client. */
export const RECORD_LIMITS = {
  uriLength: 1024,
  nameLength: 512,
  localeLength: 32,
  names: 16,
  discoveryUrls: 32,
  capabilities: 64,
  capabilityLength: 32,
} as const;

const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/;
const DISCOVERY_URL = /^(opc\.tcp|opc\.https|https|opc\.wss|wss|http):\/\/[^\s/]+/i;
const CAPABILITY = /^[A-Za-z0-9_]+$/;

/** Application types that are servers, and so must be reachable through a DiscoveryUrl. */
export function isServerType(type: ApplicationType): boolean {
  return type !== ApplicationType.Client;
}

/** Characters no stored record holds (checked at registration), so no filter or look-up needs them either. */
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

function checkString(value: unknown, what: string, max: number, required: boolean): string {
  if (value === null || value === undefined || value === "") {
    if (required) throw invalidArgument(`${what} is required`);
    return "";
  }
  if (typeof value !== "string") throw invalidArgument(`${what} must be a string`);
  if (value.length > max) throw invalidArgument(`${what} is longer than ${max} characters`);
  if (CONTROL_CHARACTERS.test(value)) throw invalidArgument(`${what} contains control characters`);
  return value;
}

/**
 * Checks an ApplicationRecord as OPC 10000-12 requires (absolute ApplicationUri, at least one name,
 * a ProductUri, DiscoveryUrls for servers and none for clients) and returns a normalised copy.
 */
export function validateApplicationFields(input: Partial<ApplicationFields>): ApplicationFields {
  const applicationUri = checkString(input.applicationUri, "ApplicationUri", RECORD_LIMITS.uriLength, true);
  if (!ABSOLUTE_URI.test(applicationUri)) throw invalidArgument("ApplicationUri must be an absolute URI");

  const applicationType = input.applicationType as number;
  if (!Number.isInteger(applicationType) || applicationType < 0 || applicationType > 3) {
    throw invalidArgument(`ApplicationType ${String(applicationType)} is not Server, Client, ClientAndServer or DiscoveryServer`);
  }

  const names = input.applicationNames ?? [];
  if (!Array.isArray(names) || names.length === 0) throw invalidArgument("at least one ApplicationName is required");
  if (names.length > RECORD_LIMITS.names) throw invalidArgument(`at most ${RECORD_LIMITS.names} ApplicationNames are allowed`);
  const applicationNames = names.map((n, i) => ({
    locale: checkString(n?.locale, `ApplicationNames[${i}].Locale`, RECORD_LIMITS.localeLength, false) || null,
    text: checkString(n?.text, `ApplicationNames[${i}].Text`, RECORD_LIMITS.nameLength, true),
  }));

  const productUri = checkString(input.productUri, "ProductUri", RECORD_LIMITS.uriLength, true);

  const urls = input.discoveryUrls ?? [];
  if (!Array.isArray(urls)) throw invalidArgument("DiscoveryUrls must be an array");
  if (urls.length > RECORD_LIMITS.discoveryUrls) throw invalidArgument(`at most ${RECORD_LIMITS.discoveryUrls} DiscoveryUrls are allowed`);
  const discoveryUrls = urls.map((u, i) => {
    const url = checkString(u, `DiscoveryUrls[${i}]`, RECORD_LIMITS.uriLength, true);
    if (!DISCOVERY_URL.test(url)) throw invalidArgument(`DiscoveryUrls[${i}] "${url}" is not an opc.tcp, opc.https or opc.wss URL`);
    return url;
  });
  if (isServerType(applicationType) && discoveryUrls.length === 0) {
    throw invalidArgument("a server needs at least one DiscoveryUrl");
  }
  if (!isServerType(applicationType) && discoveryUrls.length > 0) {
    throw invalidArgument("a client has no DiscoveryUrls");
  }

  const caps = input.serverCapabilities ?? [];
  if (!Array.isArray(caps)) throw invalidArgument("ServerCapabilities must be an array");
  if (caps.length > RECORD_LIMITS.capabilities) throw invalidArgument(`at most ${RECORD_LIMITS.capabilities} ServerCapabilities are allowed`);
  const serverCapabilities = caps.map((c, i) => {
    const cap = checkString(c, `ServerCapabilities[${i}]`, RECORD_LIMITS.capabilityLength, true);
    if (!CAPABILITY.test(cap)) throw invalidArgument(`ServerCapabilities[${i}] "${cap}" is not a capability identifier`);
    return cap;
  });

  return { applicationUri, applicationType, applicationNames, productUri, discoveryUrls, serverCapabilities: [...new Set(serverCapabilities)] };
}

/** The name returned where one name is wanted: the one for the first preferred locale, else the first. */
export function bestName(names: LocalizedName[], preferredLocales: string[] = []): LocalizedName {
  for (const locale of preferredLocales) {
    const hit = names.find((n) => n.locale === locale) ?? names.find((n) => n.locale?.split("-")[0] === locale.split("-")[0]);
    if (hit) return hit;
  }
  return names[0] ?? { locale: null, text: "" };
}
