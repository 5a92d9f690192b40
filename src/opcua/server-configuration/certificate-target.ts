import type { Variant } from "node-opcua";
import { invalidArgument } from "../../domain/errors";
import { numericNodeIdArg } from "../arguments";

/** DefaultApplicationGroup under ServerConfiguration.CertificateGroups (ns0). */
export const DEFAULT_APPLICATION_GROUP_ID = 14156;
/** RsaSha256ApplicationCertificateType (ns0): the one certificate type these servers use. */
export const RSA_SHA256_APPLICATION_CERTIFICATE_TYPE = 12560;

/**
 * Reads CertificateGroupId and CertificateTypeId (the first two arguments of UpdateCertificate and
 * CreateSigningRequest). Null means the default (OPC 10000-12 §7.10.5); any group other than
 * DefaultApplicationGroup or type other than RsaSha256ApplicationCertificateType (the group's
 * CertificateTypes) is Bad_InvalidArgument.
 */
export function checkCertificateTarget(args: Variant[]): void {
  const group = numericNodeIdArg(args, 0, "CertificateGroupId", 0);
  if (group !== null && group !== DEFAULT_APPLICATION_GROUP_ID) throw invalidArgument("CertificateGroupId names no certificate group of this server (only DefaultApplicationGroup)");
  const type = numericNodeIdArg(args, 1, "CertificateTypeId", 0);
  if (type !== null && type !== RSA_SHA256_APPLICATION_CERTIFICATE_TYPE) throw invalidArgument("CertificateTypeId is not in the group's CertificateTypes (RsaSha256ApplicationCertificateType)");
}
