import { StatusCodes, type StatusCode } from "node-opcua";
import { PushFailure, type PushFailureKind } from "../domain/push";

/**
 * Turns what node-opcua reports (Bad status codes of a device, transport errors) into PushFailures
 * whose message a plant engineer can act on: what failed, the status and its meaning, what to do.
 */

/** Statuses that say the device is busy or restarting: worth a retry later. */
const BUSY = new Set(["BadTransactionPending", "BadTooManySessions", "BadServerHalted", "BadResourceUnavailable", "BadTooManyOperations", "BadServerTooBusy", "BadShutdown"]);
/** Statuses of a lost or timed-out connection. */
const LOST = new Set([
  "BadTimeout",
  "BadRequestTimeout",
  "BadConnectionClosed",
  "BadSecureChannelClosed",
  "BadSessionClosed",
  "BadCommunicationError",
  "BadNotConnected",
  "BadServerNotConnected",
  "BadNoCommunication",
  "BadConnectionRejected",
  "BadDisconnect",
  "BadSessionIdInvalid",
]);
/** Statuses of a user the device does not accept. */
const USER_REFUSED = new Set(["BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid", "BadUserSignatureInvalid", "BadSecurityModeInsufficient"]);

/** "BadCertificateInvalid - The certificate provided as a parameter is not valid." */
export function describeStatus(name: string): string {
  const code = (StatusCodes as unknown as Record<string, StatusCode | undefined>)[name];
  const description = code?.description?.replace(/\.$/, "");
  return description ? `${name} - ${description}` : name;
}

/** The name of the first Bad status named in an error message, if any. */
export function statusNameIn(message: string): string | null {
  const m = /\b(Bad[A-Z][A-Za-z]+)\b/.exec(message);
  return m ? m[1] : null;
}

/** What a device call was about, for the message. */
export interface CallContext {
  /** e.g. "UpdateCertificate", "TrustList.Write". */
  method: string;
  /** Who the GDS logged in as, for access messages: "user 'x'", "anonymous", "X509 user ...". */
  user: string;
}

/** A Bad status a device answered to a method call. */
export function callFailure(statusName: string, context: CallContext): PushFailure {
  const status = describeStatus(statusName);
  let kind: PushFailureKind;
  let message: string;
  if (USER_REFUSED.has(statusName) || statusName === "BadNotExecutable") {
    kind = "access-denied";
    message = `device refused ${context.method} to ${context.user}: ${status} - check push credentials (the user needs the SecurityAdmin role)`;
  } else if (BUSY.has(statusName)) {
    kind = "busy";
    message = `device is busy (${context.method}): ${status}`;
  } else if (LOST.has(statusName)) {
    kind = "timeout";
    message = `lost the connection during ${context.method}: ${status}`;
  } else if (statusName === "BadNotSupported" || statusName === "BadNotImplemented") {
    kind = "unsupported";
    message = `the device does not support ${context.method}: ${status}`;
  } else if (context.method === "UpdateCertificate") {
    kind = "rejected";
    message = `device rejected the certificate: ${status}`;
  } else if (context.method.startsWith("TrustList.")) {
    kind = "rejected";
    message = `device rejected the trust list (${context.method}): ${status}`;
  } else if (context.method === "CreateSigningRequest") {
    kind = "rejected";
    message = `device refused to create a certificate request: ${status}`;
  } else {
    kind = "rejected";
    message = `device answered ${context.method} with ${status}`;
  }
  return new PushFailure(kind, message, statusName);
}

/** Transport error codes of node:net, in words. */
const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused (nothing listens on that port, or the device is off)",
  ECONNRESET: "the connection was reset",
  ETIMEDOUT: "no answer (timed out)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "unknown host name",
  EAI_AGAIN: "host name lookup failed",
};

/**
 * An error thrown while connecting to `endpointUrl` or opening a session as `user`: a socket error,
 * a channel the device refused, or a user it refused.
 */
export function connectFailure(e: unknown, endpointUrl: string, user: string): PushFailure {
  if (e instanceof PushFailure) return e;
  const message = (e as Error)?.message ?? String(e);
  const socket = Object.keys(SOCKET_ERRORS).find((code) => message.includes(code) || (e as { code?: string })?.code === code);
  if (socket) return new PushFailure("unreachable", `cannot reach ${endpointUrl}: ${SOCKET_ERRORS[socket]}`);
  if (/timed? ?out|timeout/i.test(message) && !statusNameIn(message)) return new PushFailure("timeout", `cannot reach ${endpointUrl}: no answer in time`);
  const status = statusNameIn(message);
  if (status && USER_REFUSED.has(status)) {
    return new PushFailure("access-denied", `device refused ${user}: ${describeStatus(status)} - check push credentials`, status);
  }
  if (status === "BadSecurityChecksFailed" || status === "BadCertificateUntrusted" || status === "BadCertificateInvalid" || status === "BadCertificateRevoked") {
    return new PushFailure(
      "rejected",
      `device refused the GDS's own certificate when connecting to ${endpointUrl}: ${describeStatus(status)} - the device must trust the GDS CA (push its trust list while it is in commissioning mode)`,
      status,
    );
  }
  if (status && (BUSY.has(status) || LOST.has(status))) return new PushFailure(BUSY.has(status) ? "busy" : "timeout", `cannot open a session on ${endpointUrl}: ${describeStatus(status)}`, status);
  if (status) return new PushFailure("rejected", `cannot open a session on ${endpointUrl}: ${describeStatus(status)}`, status);
  if (/socket|disconnected|closed|premature/i.test(message)) return new PushFailure("unreachable", `cannot reach ${endpointUrl}: the connection was closed (${message.split("\n")[0].slice(0, 160)})`);
  return new PushFailure("unreachable", `cannot connect to ${endpointUrl}: ${message.split("\n")[0].slice(0, 200)}`);
}
