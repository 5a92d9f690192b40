/**
 * The small error vocabulary of the domain. Errors carry a kind and a human message, never a
 * status code: the OPC UA layer and the CLI each map kinds in one table of their own.
 */
export type GdsErrorKind =
  | "InvalidArgument"
  | "NotFound"
  | "EntryExists"
  | "WriteNotSupported"
  | "UserAccessDenied"
  | "SecurityModeInsufficient"
  | "NotImplemented"
  | "Conflict"
  | "Configuration"
  /** A CSR's ApplicationUri is not the one registered for the application. */
  | "CertificateUriInvalid"
  /** A certificate request is not decided yet: the client polls again. */
  | "NothingToDo"
  /** A certificate request was rejected. */
  | "RequestNotAllowed";

/** A failure the caller can understand and act on. */
export class GdsError extends Error {
  constructor(
    readonly kind: GdsErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "GdsError";
  }
}

/** Shorthand used by validators. */
export function invalidArgument(message: string): GdsError {
  return new GdsError("InvalidArgument", message);
}

/** True when `e` is a GdsError (of the given kind, when one is named). */
export function isGdsError(e: unknown, kind?: GdsErrorKind): e is GdsError {
  return e instanceof GdsError && (kind === undefined || e.kind === kind);
}
