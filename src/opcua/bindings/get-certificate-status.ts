import { DataType } from "node-opcua";
import { CERTIFICATE_ADMIN_OR_SELF } from "../../domain/authorization";
import type { CertificateService } from "../../services/certificate-service";
import { applicationIdArg, numericNodeIdArg } from "../arguments";
import { gdsNamespaceIndex } from "../gds-namespace";
import type { MethodBinding } from "../method-binding";

/** GetCertificateStatus (OPC 10000-12 §7.9.10): ApplicationId, CertificateGroupId, CertificateTypeId -> UpdateRequired. */
export function getCertificateStatus(certificates: CertificateService): MethodBinding {
  return {
    name: "GetCertificateStatus",
    access: CERTIFICATE_ADMIN_OR_SELF,
    target: (args) => applicationIdArg(args, 0),
    async call(args, ctx) {
      const updateRequired = await certificates.getCertificateStatus(
        applicationIdArg(args, 0),
        numericNodeIdArg(args, 1, "CertificateGroupId", gdsNamespaceIndex(ctx.addressSpace)),
        numericNodeIdArg(args, 2, "CertificateTypeId", 0),
      );
      return [{ dataType: DataType.Boolean, value: updateRequired }];
    },
  };
}
