import { DataType, StatusCodes } from "node-opcua";
import { SIGNED_CHANNEL } from "../../domain/authorization";
import { invalidArgument } from "../../domain/errors";
import type { CertificateService, RevocationStatus } from "../../services/certificate-service";
import { byteStringArg } from "../arguments";
import type { MethodBinding } from "../method-binding";

const STATUS_OF: Record<RevocationStatus["status"], typeof StatusCodes.Good> = {
  Good: StatusCodes.Good,
  Revoked: StatusCodes.BadCertificateRevoked,
  Untrusted: StatusCodes.BadCertificateUntrusted,
  TimeInvalid: StatusCodes.BadCertificateTimeInvalid,
};

/** CheckRevocationStatus (OPC 10000-12 §7.9.13, 1.05): Certificate -> CertificateStatus, ValidityTime. */
export function checkRevocationStatus(certificates: CertificateService): MethodBinding {
  return {
    name: "CheckRevocationStatus",
    access: SIGNED_CHANNEL,
    async call(args) {
      const certificate = byteStringArg(args, 0, "Certificate");
      if (certificate.length === 0) throw invalidArgument("Certificate is empty");
      const result = await certificates.checkRevocationStatus(certificate);
      return [
        { dataType: DataType.StatusCode, value: STATUS_OF[result.status] },
        { dataType: DataType.DateTime, value: new Date(result.validUntilMs) },
      ];
    },
  };
}
