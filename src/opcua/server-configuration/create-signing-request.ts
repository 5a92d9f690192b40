import { createPublicKey } from "node:crypto";
import { DataType, StatusCodes } from "node-opcua";
import { booleanArg, byteStringArg, stringArg } from "../arguments";
import { StatusFault } from "../status-fault";
import { checkCertificateTarget } from "./certificate-target";
import type { PushMethodBody } from "./push-method";
import { createCertificateRequest, generateRsaKeyPair, subjectOf } from "./signing-request";

/** RegeneratePrivateKey needs at least this much caller entropy (OPC 10000-12 §7.10.10). */
export const MIN_NONCE_BYTES = 32;

/**
 * CreateSigningRequest (OPC 10000-12 §7.10.10): a PKCS#10 request for the server's own key, or,
 * with RegeneratePrivateKey, for a new key of the same size that stays pending until
 * UpdateCertificate and ApplyChanges install it (a later request replaces it).
 * Bad_InvalidArgument: group, type or SubjectName invalid, or a Nonce shorter than 32 bytes when
 * regenerating; Bad_NotSupported: the server cannot make keys; Bad_TransactionPending: another
 * session has changes waiting.
 */
export const createSigningRequest: PushMethodBody = async (args, context, state) => {
  checkCertificateTarget(args);
  const subjectName = stringArg(args, 2, "SubjectName");
  const regenerate = booleanArg(args, 3, "RegeneratePrivateKey");
  const nonce = byteStringArg(args, 4, "Nonce");
  state.checkNoOtherTransaction(context);
  const current = state.currentCertificate();
  subjectOf(subjectName, current); // refuse a bad SubjectName before any key is made
  let keys;
  if (regenerate) {
    if (!state.options.canRegeneratePrivateKey) throw new StatusFault(StatusCodes.BadNotSupported, "this server cannot generate private keys: send a key pair with UpdateCertificate");
    if (nonce.length < MIN_NONCE_BYTES) throw new StatusFault(StatusCodes.BadInvalidArgument, `the Nonce must be at least ${MIN_NONCE_BYTES} bytes when RegeneratePrivateKey is true`);
    const bits = Math.max(2048, current.publicKey.asymmetricKeyDetails?.modulusLength ?? 2048);
    keys = await generateRsaKeyPair(bits);
    state.pendingKey = keys.privateKey;
  } else {
    const privateKey = await state.currentPrivateKey();
    keys = { privateKey, publicKey: createPublicKey(privateKey) };
  }
  const request = await createCertificateRequest({ subjectName, applicationUri: state.applicationUri, current, hostNames: state.options.hostNames }, keys);
  return [{ dataType: DataType.ByteString, value: request }];
};
