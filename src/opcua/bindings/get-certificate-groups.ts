import { DataType, VariantArrayType } from "node-opcua";
import { CERTIFICATE_ADMIN_OR_SELF } from "../../domain/authorization";
import type { CertificateService } from "../../services/certificate-service";
import { applicationIdArg } from "../arguments";
import { gdsNodeId } from "../gds-namespace";
import type { MethodBinding } from "../method-binding";

/** GetCertificateGroups (OPC 10000-12 §7.9.8): ApplicationId -> CertificateGroupIds. */
export function getCertificateGroups(certificates: CertificateService): MethodBinding {
  return {
    name: "GetCertificateGroups",
    access: CERTIFICATE_ADMIN_OR_SELF,
    target: (args) => applicationIdArg(args, 0),
    async call(args, ctx) {
      const groups = await certificates.getCertificateGroups(applicationIdArg(args, 0));
      return [{ dataType: DataType.NodeId, arrayType: VariantArrayType.Array, value: groups.map((g) => gdsNodeId(ctx.addressSpace, g.nodeNumericId)) }];
    },
  };
}
