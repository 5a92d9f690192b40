import { DataType, NodeId, VariantArrayType } from "node-opcua";
import { invalidArgument } from "../../domain/errors";
import { numericNodeIdArg } from "../arguments";
import { DEFAULT_APPLICATION_GROUP_ID, RSA_SHA256_APPLICATION_CERTIFICATE_TYPE } from "./certificate-target";
import type { PushMethodBody } from "./push-method";

/**
 * GetCertificates (OPC 10000-12 1.05 §7.10.13): the certificate types of a group and the
 * certificate in use for each. This server has one group (DefaultApplicationGroup, or null) with
 * one type; another group is Bad_InvalidArgument.
 */
export const getCertificates: PushMethodBody = async (args, _context, state) => {
  const group = numericNodeIdArg(args, 0, "CertificateGroupId", 0);
  if (group !== null && group !== DEFAULT_APPLICATION_GROUP_ID) throw invalidArgument("CertificateGroupId names no certificate group of this server (only DefaultApplicationGroup)");
  return [
    { dataType: DataType.NodeId, arrayType: VariantArrayType.Array, value: [new NodeId(NodeId.NodeIdType.NUMERIC, RSA_SHA256_APPLICATION_CERTIFICATE_TYPE, 0)] },
    { dataType: DataType.ByteString, arrayType: VariantArrayType.Array, value: [state.currentCertificate().raw] },
  ];
};
