import type { KeyObject } from "node:crypto";
import { DataType, NodeId, StatusCodes, type Variant, type VariantLike } from "node-opcua";
import { byteStringArg, byteStringArrayArg, stringArg } from "../arguments";
import { StatusFault } from "../status-fault";
import { checkApplicationCertificate, keyMatches, parseCertificate } from "./certificate-checks";
import { DEFAULT_APPLICATION_GROUP_ID, RSA_SHA256_APPLICATION_CERTIFICATE_TYPE, checkCertificateTarget } from "./certificate-target";
import type { ConfigurationState } from "./configuration-state";
import { decodePrivateKey } from "./private-key";
import type { PushMethodBody } from "./push-method";

/** Limits for untrusted input: a certificate is a few kilobytes, a chain a handful of them. */
const MAX_ISSUERS = 8;

async function keyOfCertificate(state: ConfigurationState, args: Variant[], certificate: ReturnType<typeof parseCertificate>): Promise<KeyObject> {
  const format = stringArg(args, 4, "PrivateKeyFormat");
  const supplied = byteStringArg(args, 5, "PrivateKey");
  if (supplied.length > 0) {
    const key = await decodePrivateKey(format, supplied, state.options.supportedPrivateKeyFormats);
    if (!keyMatches(certificate, key)) throw new StatusFault(StatusCodes.BadSecurityChecksFailed, "the PrivateKey does not belong to the Certificate");
    return key;
  }
  if (state.pendingKey && keyMatches(certificate, state.pendingKey)) return state.pendingKey;
  const current = await state.currentPrivateKey();
  if (keyMatches(certificate, current)) return current;
  throw new StatusFault(StatusCodes.BadSecurityChecksFailed, "the Certificate's public key is neither the key of the last CreateSigningRequest nor the current key, and no PrivateKey was given");
}

/**
 * UpdateCertificate (OPC 10000-12 §7.10.5): checks the new certificate (see
 * checkApplicationCertificate, then the server's own acceptCertificate policy), finds its private
 * key (given, pending from CreateSigningRequest, or the current one) and stages both in the
 * caller's transaction; ApplyChanges installs them. Answers ApplyChangesRequired = true.
 * Bad_InvalidArgument: group or type; Bad_CertificateInvalid: the certificate or an issuer does
 * not parse; Bad_CertificateUriInvalid: not this server's ApplicationUri; Bad_NotSupported: the
 * PrivateKey's format or bytes; Bad_SecurityChecksFailed: no matching key or a broken chain.
 */
export const updateCertificate: PushMethodBody = async (args, context, state) => {
  checkCertificateTarget(args);
  const certificateDer = byteStringArg(args, 2, "Certificate");
  const issuersDer = byteStringArrayArg(args, 3, "IssuerCertificates");
  if (issuersDer.length > MAX_ISSUERS) throw new StatusFault(StatusCodes.BadInvalidArgument, `at most ${MAX_ISSUERS} IssuerCertificates`);
  state.checkNoOtherTransaction(context);
  const certificate = parseCertificate(certificateDer, "the Certificate");
  const chain = checkApplicationCertificate(certificate, issuersDer, await state.knownCaCertificates(context), state.applicationUri, Date.now());
  await state.options.acceptCertificate(certificateDer);
  const privateKey = await keyOfCertificate(state, args, certificate);
  state.transactionOf(context, true).certificate = { certificateDer: Buffer.from(certificateDer), issuersDer: chain.map((c) => Buffer.from(c.raw)), privateKey };
  return [{ dataType: DataType.Boolean, value: true }];
};

/** CertificateUpdatedAuditEventType fields: the group and type the call named (defaults filled in). */
export function certificateUpdatedFields(args: Variant[]): Record<string, VariantLike> {
  const nodeIdOr = (index: number, fallback: number) => {
    const v = args[index]?.value as NodeId | null | undefined;
    return v instanceof NodeId && !v.isEmpty() ? v : new NodeId(NodeId.NodeIdType.NUMERIC, fallback, 0);
  };
  return {
    certificateGroup: { dataType: DataType.NodeId, value: nodeIdOr(0, DEFAULT_APPLICATION_GROUP_ID) },
    certificateType: { dataType: DataType.NodeId, value: nodeIdOr(1, RSA_SHA256_APPLICATION_CERTIFICATE_TYPE) },
  };
}
