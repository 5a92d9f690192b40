import { DataType, NodeId, VariantArrayType } from "node-opcua";
import { CERTIFICATE_ADMIN_OR_SELF } from "../../domain/authorization";
import type { CertificateService } from "../../services/certificate-service";
import { applicationIdArg, numericNodeIdArg } from "../arguments";
import { gdsNamespaceIndex } from "../gds-namespace";
import type { MethodBinding } from "../method-binding";

/** GetCertificates (OPC 10000-12 §7.9.11, 1.05): ApplicationId, CertificateGroupId -> CertificateTypeIds, Certificates. */
export function getCertificates(certificates: CertificateService): MethodBinding {
  return {
    name: "GetCertificates",
    access: CERTIFICATE_ADMIN_OR_SELF,
    target: (args) => applicationIdArg(args, 0),
    async call(args, ctx) {
      const list = await certificates.getCertificates(applicationIdArg(args, 0), numericNodeIdArg(args, 1, "CertificateGroupId", gdsNamespaceIndex(ctx.addressSpace)));
      return [
        { dataType: DataType.NodeId, arrayType: VariantArrayType.Array, value: list.map((c) => new NodeId(NodeId.NodeIdType.NUMERIC, c.type.nodeNumericId, 0)) },
        { dataType: DataType.ByteString, arrayType: VariantArrayType.Array, value: list.map((c) => c.certificate) },
      ];
    },
  };
}
