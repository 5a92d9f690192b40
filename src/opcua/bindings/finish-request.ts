import { DataType, NodeIdType, VariantArrayType, type NodeId } from "node-opcua";
import { CERTIFICATE_COLLECTION } from "../../domain/authorization";
import { invalidArgument } from "../../domain/errors";
import type { CertificateService } from "../../services/certificate-service";
import { applicationIdArg } from "../arguments";
import type { MethodBinding } from "../method-binding";
import { requesterOf } from "./requester";

function requestIdArg(value: unknown): string {
  const nodeId = value as NodeId | null;
  if (!nodeId || nodeId.identifierType !== NodeIdType.GUID) throw invalidArgument("RequestId is not a request of this GDS");
  return String(nodeId.value).toLowerCase();
}

/** FinishRequest (OPC 10000-12 §7.9.6): ApplicationId, RequestId -> Certificate, PrivateKey, IssuerCertificates. */
export function finishRequest(certificates: CertificateService): MethodBinding {
  return {
    name: "FinishRequest",
    access: CERTIFICATE_COLLECTION,
    async call(args, ctx) {
      const applicationId = applicationIdArg(args, 0);
      if (args[1]?.dataType !== DataType.NodeId) throw invalidArgument("RequestId must be a NodeId");
      const result = await certificates.finishRequest(requesterOf(ctx, applicationId), applicationId, requestIdArg(args[1].value));
      return [
        { dataType: DataType.ByteString, value: result.certificate },
        { dataType: DataType.ByteString, value: result.privateKey },
        { dataType: DataType.ByteString, arrayType: VariantArrayType.Array, value: result.issuerCertificates },
      ];
    },
  };
}
