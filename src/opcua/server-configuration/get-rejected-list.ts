import { DataType, VariantArrayType } from "node-opcua";
import type { PushMethodBody } from "./push-method";

/**
 * GetRejectedList (OPC 10000-12 §7.10.12): the certificates of clients the server's certificate
 * manager refused (its rejected folder), newest first, at most options.maxRejectedCertificates.
 */
export const getRejectedList: PushMethodBody = async (_args, _context, state) => {
  const certificates = await state.store.rejected(state.options.maxRejectedCertificates);
  return [{ dataType: DataType.ByteString, arrayType: VariantArrayType.Array, value: certificates }];
};
