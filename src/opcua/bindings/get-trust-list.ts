import { DataType } from "node-opcua";
import { CERTIFICATE_ADMIN_OR_SELF } from "../../domain/authorization";
import type { CertificateService } from "../../services/certificate-service";
import { applicationIdArg, numericNodeIdArg } from "../arguments";
import { gdsNamespaceIndex, gdsNodeId } from "../gds-namespace";
import type { MethodBinding } from "../method-binding";

/** GetTrustList (OPC 10000-12 §7.9.9): ApplicationId, CertificateGroupId -> TrustListId. */
export function getTrustList(certificates: CertificateService): MethodBinding {
  return {
    name: "GetTrustList",
    access: CERTIFICATE_ADMIN_OR_SELF,
    target: (args) => applicationIdArg(args, 0),
    async call(args, ctx) {
      const group = await certificates.getTrustListGroup(applicationIdArg(args, 0), numericNodeIdArg(args, 1, "CertificateGroupId", gdsNamespaceIndex(ctx.addressSpace)));
      return [{ dataType: DataType.NodeId, value: gdsNodeId(ctx.addressSpace, group.trustListNumericId) }];
    },
  };
}
