import { CERTIFICATE_ADMIN } from "../../domain/authorization";
import { invalidArgument } from "../../domain/errors";
import type { CertificateService } from "../../services/certificate-service";
import { applicationIdArg, byteStringArg } from "../arguments";
import type { MethodBinding } from "../method-binding";

/** RevokeCertificate (OPC 10000-12 §7.9.12, 1.05): ApplicationId, Certificate -> (). */
export function revokeCertificate(certificates: CertificateService): MethodBinding {
  return {
    name: "RevokeCertificate",
    access: CERTIFICATE_ADMIN,
    async call(args, ctx) {
      const certificate = byteStringArg(args, 1, "Certificate");
      if (certificate.length === 0) throw invalidArgument("Certificate is empty");
      await certificates.revokeCertificate(ctx.actor, applicationIdArg(args, 0), certificate);
      return [];
    },
  };
}
