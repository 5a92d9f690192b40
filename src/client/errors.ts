import type { StatusCode } from "node-opcua";

/**
 * What a Bad status means for an application talking to a GDS, in plain words, with what to do.
 * Keyed by the status name node-opcua gives (`BadUserAccessDenied`).
 */
const EXPLANATIONS: Record<string, string> = {
  BadUserAccessDenied:
    "the GDS refused this session the call: connect as a user with the needed role (DiscoveryAdmin to register, CertificateAuthorityAdmin for certificates) or with the application's own GDS-issued certificate",
  BadSecurityModeInsufficient: "the call needs a SignAndEncrypt channel",
  BadNotFound: "the GDS has no such application (or certificate): register the application first, or check the ApplicationId",
  BadEntryExists: "an application with this ApplicationUri is registered already: find it with FindApplications and use its ApplicationId",
  BadInvalidArgument: "the GDS refused an argument as invalid (the GDS's message log says which)",
  BadCertificateUriInvalid: "the certificate request's ApplicationUri is not the one registered for this application",
  BadNothingToDo: "the certificate request waits for approval by a RegistrationAuthorityAdmin: ask again later",
  BadRequestNotAllowed: "the certificate request was rejected by the GDS's administrator",
  BadInvalidState: "the request is in a state that does not allow this (already finished?)",
  BadWriteNotSupported: "the ApplicationUri of a registered application cannot change",
  BadNotImplemented: "the GDS does not implement this method",
  BadConfigurationError: "the GDS is misconfigured; its log says why",
  BadCertificateRevoked: "the certificate presented was revoked by the GDS: obtain a new one with user credentials or in an onboarding window",
  BadCertificateUntrusted: "the peer does not trust the certificate presented",
  BadCertificateTimeInvalid: "the certificate presented has expired or is not valid yet",
  BadSecurityChecksFailed: "the secure channel could not be established: a certificate was refused",
  BadTimeout: "the GDS did not answer in time",
  BadConnectionClosed: "the GDS closed the connection",
};

/** A plain explanation of `statusName`, or a generic one for statuses without an entry. */
export function explainStatus(statusName: string): string {
  return EXPLANATIONS[statusName] ?? "the GDS answered with this status; see OPC 10000-4 and OPC 10000-12 for its meaning";
}

/**
 * Any failure of the GDS client: carries the OPC UA status when the GDS (or the stack) gave one, and
 * a plain explanation of what happened and what to do.
 */
export class GdsClientError extends Error {
  constructor(
    message: string,
    readonly statusCode: StatusCode | null,
    readonly explanation: string,
  ) {
    super(`${message}: ${explanation}`);
    this.name = "GdsClientError";
  }
}

/** A method call that did not answer Good; carries the status code and a plain explanation. */
export class GdsCallError extends GdsClientError {
  constructor(
    readonly method: string,
    readonly statusCode: StatusCode,
  ) {
    super(`${method} failed with ${statusCode.toString()}`, statusCode, explainStatus(statusCode.name));
    this.name = "GdsCallError";
  }
}

/**
 * Why a connection failed: the GDS is not reachable, its certificate could not be verified, or it
 * refused this client (its certificate, its user) or failed otherwise.
 */
export type ConnectionFailure = "unreachable" | "gds-not-trusted" | "refused";

/** The GDS could not be reached, or the secure channel or session could not be opened. */
export class GdsConnectionError extends GdsClientError {
  constructor(
    readonly endpointUrl: string,
    cause: unknown,
    statusCode: StatusCode | null,
    explanation: string,
    readonly failure: ConnectionFailure,
  ) {
    super(`could not open a session with ${endpointUrl} (${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)})`, statusCode, explanation);
    this.name = "GdsConnectionError";
  }
}

/** A certificate request that waited longer than allowed for approval. */
export class ApprovalTimeoutError extends GdsClientError {
  constructor(
    readonly applicationId: string,
    readonly requestId: string,
    waitedMs: number,
  ) {
    super(`certificate request ${requestId} still waits for approval after ${Math.round(waitedMs / 1000)} s`, null, "a RegistrationAuthorityAdmin must approve it (opcua-gds request approve <RequestId>); collect it later with the same RequestId");
    this.name = "ApprovalTimeoutError";
  }
}
