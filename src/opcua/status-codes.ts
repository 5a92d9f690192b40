import { StatusCodes, type StatusCode } from "node-opcua";
import { GdsError, type GdsErrorKind } from "../domain/errors";
import { StatusFault } from "./status-fault";

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
  if (error instanceof StatusFault) return error.statusCode;
  return error instanceof GdsError ? STATUS_OF_KIND[error.kind] : StatusCodes.BadInternalError;
}

/** True when `error` is the caller's to know (a GdsError or a StatusFault), false for a fault to log. */
export function isExpectedFailure(error: unknown): boolean {
  return error instanceof GdsError || error instanceof StatusFault;
}
