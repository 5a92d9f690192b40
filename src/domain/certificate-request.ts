import { GdsError, invalidArgument } from "./errors";

/** States of a certificate request (OPC 10000-12 §7.9.1): New -> Approved | Rejected -> Accepted. */
export type RequestState = "New" | "Approved" | "Rejected" | "Accepted";

/** How the key pair of a request comes about. */
export type RequestKind = "SigningRequest" | "NewKeyPair";

/** What a request records. */
export interface CertificateRequestRecord {
  requestId: string;
  applicationId: string;
  groupName: string;
  certificateTypeName: string;
  kind: RequestKind;
  state: RequestState;
  /** Who asked (user or anonymous client), for the audit trail and approvers. */
  requestedBy: string;
  /** SHA-1 thumbprint of the client certificate of the Start call. */
  requesterThumbprint: string | null;
  createdAtMs: number;
  decidedBy: string | null;
  decidedAtMs: number | null;
  rejectReason: string | null;
  /** Serial (hex) of the certificate issued for the request. */
  serialHex: string | null;
  subjectName: string | null;
  domainNames: string[];
  privateKeyFormat: "PFX" | "PEM" | null;
}

/**
 * What FinishRequest does with a request in a given state: deliver it, or the error the standard
 * prescribes (Bad_NothingToDo while undecided so the client polls, Bad_RequestNotAllowed when
 * rejected, Bad_InvalidArgument once delivered or for another application's request).
 */
export function finishDecision(request: CertificateRequestRecord, applicationId: string): "deliver" {
  if (request.applicationId !== applicationId) throw invalidArgument("the RequestId does not belong to this ApplicationId");
  switch (request.state) {
    case "New":
      throw new GdsError("NothingToDo", "the request waits for approval; call FinishRequest again later");
    case "Rejected":
      throw new GdsError("RequestNotAllowed", `the request was rejected${request.rejectReason ? `: ${request.rejectReason}` : ""}`);
    case "Accepted":
      throw invalidArgument("the request was already finished");
    case "Approved":
      return "deliver";
  }
}

/** Checks that a request may be approved or rejected (only New ones). */
export function checkDecidable(request: CertificateRequestRecord): void {
  if (request.state !== "New") throw new GdsError("Conflict", `request ${request.requestId} is ${request.state}, not New`);
}
