import { DataType, NodeId } from "node-opcua";
import { CERTIFICATE_REQUEST } from "../../domain/authorization";
import type { CertificateService } from "../../services/certificate-service";
import { applicationIdArg, byteStringArg, numericNodeIdArg } from "../arguments";
import { gdsNamespaceIndex } from "../gds-namespace";
import type { MethodBinding } from "../method-binding";
import { requesterOf } from "./requester";

/** StartSigningRequest (OPC 10000-12 §7.9.4): ApplicationId, CertificateGroupId, CertificateTypeId, CertificateRequest -> RequestId. */
export function startSigningRequest(certificates: CertificateService): MethodBinding {
  return {
    name: "StartSigningRequest",
    access: CERTIFICATE_REQUEST,
    target: (args) => applicationIdArg(args, 0),
    async call(args, ctx) {
      const applicationId = applicationIdArg(args, 0);
      const requestId = await certificates.startSigningRequest(
        requesterOf(ctx, applicationId),
        applicationId,
        numericNodeIdArg(args, 1, "CertificateGroupId", gdsNamespaceIndex(ctx.addressSpace)),
        numericNodeIdArg(args, 2, "CertificateTypeId", 0),
        byteStringArg(args, 3, "CertificateRequest"),
      );
      return [{ dataType: DataType.NodeId, value: NodeId.resolveNodeId(`ns=1;g=${requestId}`) }];
    },
  };
}
