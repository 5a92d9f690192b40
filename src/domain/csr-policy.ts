import { GdsError, invalidArgument } from "./errors";

/**
 * What the GDS needs to know about a PKCS#10 certificate request to decide on it (OPC 10000-12
 * §7.9.4 StartSigningRequest). The CA layer's `ParsedCsr` extends this with the importable public key.
 */
export interface ParsedCsrFacts {
  /** Subject distinguished name in RFC 4514 form, e.g. `CN=Pump 1, O=Plant`. */
  subject: string;
  /** DER SubjectPublicKeyInfo of the requested key. */
  publicKeySpki: Uint8Array;
  /** "RSA", "EC", or another key type name ("RSA-PSS", "Ed25519", ...). */
  keyAlgorithm: "RSA" | "EC" | string;
  /** Modulus length for RSA, curve size for EC, 0 when unknown. */
  keyBits: number;
  /** Hash of the CSR's signature, e.g. "SHA-256", "SHA-1", "MD5"; the algorithm name when it has none. */
  signatureHash: string;
  /** True when the CSR is signed by the key it carries (proof of possession). */
  signatureValid: boolean;
  /** SubjectAltName uniformResourceIdentifier entries. */
  uris: string[];
  /** SubjectAltName dNSName entries. */
  dnsNames: string[];
  /** SubjectAltName iPAddress entries, textual (dotted IPv4, RFC 5952 IPv6). */
  ipAddresses: string[];
}

/** Which host names a CSR may ask for. */
export type CsrHostPolicy =
  /** Only the hosts of the application's DiscoveryUrls plus `extraAllowedHosts`. */
  | "registered"
  /** Any syntactically valid DNS name or IP address. */
  | "any";

/** The GDS's rules for certificate requests; every field has a default (`DEFAULT_CSR_POLICY`). */
export interface CsrPolicy {
  /** Smallest RSA modulus accepted, in bits. Default 2048 (RsaSha256ApplicationCertificateType). */
  minRsaBits?: number;
  /** Default "registered". */
  hostPolicy?: CsrHostPolicy;
  /** Host names and IP addresses allowed besides the registered ones (e.g. a plant-wide alias). */
  extraAllowedHosts?: string[];
}

export const DEFAULT_CSR_POLICY: Readonly<Required<CsrPolicy>> = Object.freeze({
  minRsaBits: 2048,
  hostPolicy: "registered" as CsrHostPolicy,
  extraAllowedHosts: Object.freeze([]) as unknown as string[],
});

/** Names that go into an issued certificate besides the ApplicationUri. */
export interface CertificateHostNames {
  dnsNames: string[];
  ipAddresses: string[];
}

/** Signature hashes accepted on a CSR; SHA-1, MD5 and anything unknown are refused. */
const ACCEPTED_SIGNATURE_HASHES = new Set(["SHA-256", "SHA-384", "SHA-512"]);

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const DNS_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * The canonical text of an IP address (IPv4 dotted decimal, IPv6 as RFC 5952 via the WHATWG URL
 * parser), or null when `text` is not an IP address. Brackets around IPv6 are accepted.
 */
export function normalizeIpAddress(text: string): string | null {
  const s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v4 = IPV4.exec(s);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    return parts.every((p) => p <= 255) ? parts.join(".") : null;
  }
  if (!s.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(s)) return null;
  try {
    const host = new URL(`http://[${s}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return null;
  }
}

/** The canonical form of a DNS name (lower case, no trailing dot), or null when it is not one. */
export function normalizeDnsName(text: string): string | null {
  const s = text.toLowerCase().replace(/\.$/, "");
  if (s.length === 0 || s.length > 253) return null;
  if (!s.split(".").every((label) => DNS_LABEL.test(label))) return null;
  if (normalizeIpAddress(s) !== null || /^[0-9.]+$/.test(s)) return null;
  return s;
}

/** Splits host names into DNS names and IP addresses (canonical, without duplicates, in order). */
function classifyHosts(hosts: Iterable<string>): CertificateHostNames {
  const dnsNames = new Set<string>();
  const ipAddresses = new Set<string>();
  for (const host of hosts) {
    const ip = normalizeIpAddress(host);
    if (ip !== null) {
      ipAddresses.add(ip);
      continue;
    }
    const dns = normalizeDnsName(host);
    if (dns !== null) dnsNames.add(dns);
  }
  return { dnsNames: [...dnsNames], ipAddresses: [...ipAddresses] };
}

/**
 * The hosts of an application's DiscoveryUrls, split into DNS names and IP addresses (canonical,
 * without duplicates). URLs that do not parse and hosts that are neither are skipped. This is the
 * default DomainNames of StartNewKeyPairRequest.
 */
export function hostsOfDiscoveryUrls(urls: string[]): CertificateHostNames {
  const hosts: string[] = [];
  for (const url of urls) {
    let host: string;
    try {
      host = new URL(url).hostname;
    } catch {
      continue;
    }
    // Non-special schemes such as opc.tcp keep the host as written ("opaque host"): decode it.
    try {
      host = decodeURIComponent(host);
    } catch {
      continue;
    }
    if (host) hosts.push(host);
  }
  return classifyHosts(hosts);
}

/** Shortens a value for an error message and makes control characters visible. */
function quote(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return JSON.stringify(shown);
}

/**
 * Decides whether the GDS may sign `csr` for `application` (OPC 10000-12 §7.9.4) and returns the DNS
 * names and IP addresses to put into the certificate (canonical, without duplicates, in CSR order).
 *
 * Throws GdsError "InvalidArgument" for a bad signature, a SHA-1/MD5 signature, a key that is not RSA
 * or is too short, or a host name the policy does not allow; "CertificateUriInvalid" when the
 * SubjectAltName does not hold exactly one URI equal to the registered ApplicationUri.
 */
export function checkCertificateRequest(
  csr: ParsedCsrFacts,
  application: { applicationUri: string; discoveryUrls: string[] },
  policy: CsrPolicy = DEFAULT_CSR_POLICY,
): CertificateHostNames {
  const minRsaBits = policy.minRsaBits ?? DEFAULT_CSR_POLICY.minRsaBits;
  const hostPolicy = policy.hostPolicy ?? DEFAULT_CSR_POLICY.hostPolicy;
  const extraAllowedHosts = policy.extraAllowedHosts ?? DEFAULT_CSR_POLICY.extraAllowedHosts;

  if (!csr.signatureValid) {
    throw invalidArgument("the certificate request's signature does not verify with the public key it carries");
  }
  if (csr.keyAlgorithm !== "RSA") {
    throw invalidArgument(`the certificate request holds a ${csr.keyAlgorithm} key; only RSA keys are served (RsaSha256ApplicationCertificateType)`);
  }
  if (!(csr.keyBits >= minRsaBits)) {
    throw invalidArgument(`the certificate request's RSA key has ${csr.keyBits} bits; at least ${minRsaBits} are required`);
  }
  if (!ACCEPTED_SIGNATURE_HASHES.has(csr.signatureHash)) {
    throw invalidArgument(`the certificate request is signed with ${csr.signatureHash}; sign it with SHA-256 or stronger`);
  }

  if (csr.uris.length !== 1) {
    throw new GdsError(
      "CertificateUriInvalid",
      csr.uris.length === 0
        ? `the certificate request has no URI in its SubjectAltName; it must hold the ApplicationUri ${quote(application.applicationUri)}`
        : `the certificate request has ${csr.uris.length} URIs in its SubjectAltName; it must hold exactly one, the ApplicationUri ${quote(application.applicationUri)}`,
    );
  }
  if (csr.uris[0] !== application.applicationUri) {
    throw new GdsError(
      "CertificateUriInvalid",
      `the certificate request's URI ${quote(csr.uris[0])} is not the registered ApplicationUri ${quote(application.applicationUri)}`,
    );
  }

  const allowed =
    hostPolicy === "any"
      ? null
      : (() => {
          const registered = hostsOfDiscoveryUrls(application.discoveryUrls);
          const extra = classifyHosts(extraAllowedHosts);
          return {
            dnsNames: new Set([...registered.dnsNames, ...extra.dnsNames]),
            ipAddresses: new Set([...registered.ipAddresses, ...extra.ipAddresses]),
          };
        })();

  const dnsNames = new Set<string>();
  for (const name of csr.dnsNames) {
    const dns = normalizeDnsName(name);
    if (dns === null) throw invalidArgument(`the certificate request's DNS name ${quote(name)} is not a valid host name`);
    if (allowed && !allowed.dnsNames.has(dns)) {
      throw invalidArgument(`the certificate request's DNS name ${quote(name)} is not a host of the application's DiscoveryUrls`);
    }
    dnsNames.add(dns);
  }
  const ipAddresses = new Set<string>();
  for (const address of csr.ipAddresses) {
    const ip = normalizeIpAddress(address);
    if (ip === null) throw invalidArgument(`the certificate request's IP address ${quote(address)} is not valid`);
    if (allowed && !allowed.ipAddresses.has(ip)) {
      throw invalidArgument(`the certificate request's IP address ${quote(address)} is not a host of the application's DiscoveryUrls`);
    }
    ipAddresses.add(ip);
  }
  return { dnsNames: [...dnsNames], ipAddresses: [...ipAddresses] };
}
