import type { ISessionContext } from "node-opcua";
import type { TrustListContent } from "../trust-list-file";

/** PrivateKeyFormat values of UpdateCertificate (OPC 10000-12 §7.10.5, SupportedPrivateKeyFormats). */
export type PrivateKeyFormat = "PFX" | "PEM";

/** What changed when ApplyChanges, AddCertificate or RemoveCertificate took effect. */
export interface AppliedChange {
  kind: "certificate" | "trustList";
  /** The caller, as options.actorOf names it. */
  actor: string;
  /** For a certificate: its SHA-1 thumbprint; for a trust list: the method that changed it. */
  detail: string;
}

/** How installServerConfiguration behaves on one server; every field has a default. */
export interface ServerConfigurationOptions {
  /**
   * Throws (a GdsError or StatusFault) unless the caller may manage this server. Called first in
   * every method. Default: a SignAndEncrypt channel (Bad_SecurityModeInsufficient) and a session
   * whose user has the SecurityAdmin role in node-opcua's user manager (Bad_UserAccessDenied).
   */
  authorize?(context: ISessionContext): Promise<void>;
  /** Names the caller in audit events and AppliedChange; default: the session's user name or "anonymous". */
  actorOf?(context: ISessionContext): string;
  /** SupportedPrivateKeyFormats; default ["PFX", "PEM"]. */
  supportedPrivateKeyFormats?: PrivateKeyFormat[];
  /** False for a device that cannot make keys: CreateSigningRequest with RegeneratePrivateKey answers Bad_NotSupported. Default true. */
  canRegeneratePrivateKey?: boolean;
  /**
   * The server's own policy on a new certificate that passed every standard check (a device that
   * refuses certificates of some issuer): throw a StatusFault to refuse it. Default: accept.
   */
  acceptCertificate?(certificateDer: Buffer): void | Promise<void>;
  /** MaxTrustListSize in bytes; default 1 MiB. */
  maxTrustListSize?: number;
  /** How many certificates GetRejectedList returns at most (the newest); default 100. */
  maxRejectedCertificates?: number;
  /**
   * Certificates and CRLs kept in the trust store whatever a client writes or removes (the GDS's own
   * CA, so that a pushed trust list cannot lock out the applications it issued certificates to).
   */
  retainedTrust?(): Promise<Partial<TrustListContent>>;
  /** Called after every change took effect (for the owner's own audit trail or state); errors are logged. */
  onApplied?(change: AppliedChange): void | Promise<void>;
  /**
   * Host names and IP addresses a CreateSigningRequest names besides the ApplicationUri; default:
   * those of the current certificate. A server reachable under fewer names (a simulated device on
   * 127.0.0.1) names only those, as a CA that checks them against the DiscoveryUrls wants.
   */
  hostNames?: string[];
  /** The ServerCapabilities property; default: left as it is. */
  serverCapabilities?: string[];
  /** Logs failures that are not the caller's fault (never key material). Default console.error. */
  logError?(message: string): void;
}

/** ServerConfigurationOptions with the defaults filled in. */
export type ResolvedOptions = Required<Omit<ServerConfigurationOptions, "retainedTrust" | "onApplied" | "serverCapabilities" | "hostNames">> &
  Pick<ServerConfigurationOptions, "retainedTrust" | "onApplied" | "serverCapabilities" | "hostNames">;

/** 1 MiB: room for a few hundred certificates and CRLs. */
export const DEFAULT_MAX_TRUST_LIST_SIZE = 1024 * 1024;
export const DEFAULT_MAX_REJECTED_CERTIFICATES = 100;
