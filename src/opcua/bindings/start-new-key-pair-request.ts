import { DataType, NodeId } from "node-opcua";
import { CERTIFICATE_REQUEST } from "../../domain/authorization";
import type { CertificateService } from "../../services/certificate-service";
import { applicationIdArg, numericNodeIdArg, stringArg, stringArrayArg } from "../arguments";
import { gdsNamespaceIndex } from "../gds-namespace";
import type { MethodBinding } from "../method-binding";
import { requesterOf } from "./requester";

/**
 * StartNewKeyPairRequest (OPC 10000-12 §7.9.5): ApplicationId, CertificateGroupId,
 * CertificateTypeId, SubjectName, DomainNames, PrivateKeyFormat, PrivateKeyPassword -> RequestId.
 */
export function startNewKeyPairRequest(certificates: CertificateService): MethodBinding {
  return {
    name: "StartNewKeyPairRequest",
    access: CERTIFICATE_REQUEST,
    target: (args) => applicationIdArg(args, 0),
    async call(args, ctx) {
      const applicationId = applicationIdArg(args, 0);
      const requestId = await certificates.startNewKeyPairRequest(
        requesterOf(ctx, applicationId),
        applicationId,
        numericNodeIdArg(args, 1, "CertificateGroupId", gdsNamespaceIndex(ctx.addressSpace)),
        numericNodeIdArg(args, 2, "CertificateTypeId", 0),
        stringArg(args, 3, "SubjectName"),
        stringArrayArg(args, 4, "DomainNames"),
        stringArg(args, 5, "PrivateKeyFormat"),
        stringArg(args, 6, "PrivateKeyPassword"),
      );
      return [{ dataType: DataType.NodeId, value: NodeId.resolveNodeId(`ns=1;g=${requestId}`) }];
    },
  };
}
