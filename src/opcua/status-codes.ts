import { StatusCodes, type StatusCode } from "node-opcua";
import { GdsError, type GdsErrorKind } from "../domain/errors";

/** The one table from domain error kinds to OPC UA status codes. */
const STATUS_OF_KIND: Record<GdsErrorKind, StatusCode> = {
  InvalidArgument: StatusCodes.BadInvalidArgument,
  NotFound: StatusCodes.BadNotFound,
  EntryExists: StatusCodes.BadEntryExists,
  WriteNotSupported: StatusCodes.BadWriteNotSupported,
  UserAccessDenied: StatusCodes.BadUserAccessDenied,
  SecurityModeInsufficient: StatusCodes.BadSecurityModeInsufficient,
  NotImplemented: StatusCodes.BadNotImplemented,
  Conflict: StatusCodes.BadInvalidState,
  Configuration: StatusCodes.BadConfigurationError,
  CertificateUriInvalid: StatusCodes.BadCertificateUriInvalid,
  NothingToDo: StatusCodes.BadNothingToDo,
  RequestNotAllowed: StatusCodes.BadRequestNotAllowed,
};

/** The status code a failed call answers with; anything unexpected is an internal error. */
export function statusCodeOf(error: unknown): StatusCode {
  return error instanceof GdsError ? STATUS_OF_KIND[error.kind] : StatusCodes.BadInternalError;
}
