import { StatusCodes } from "node-opcua";
import { StatusFault } from "../status-fault";
import type { PushMethodBody } from "./push-method";

/**
 * ResetToServerDefaults (OPC 10000-12 1.05, optional): not offered, since the defaults would drop
 * the certificate and the trust the plant pushed. Bound all the same: unbound, node-opcua lets any
 * session, anonymous over Sign included, reach it and answers Bad_InternalError; bound, it is
 * authorized like every other member and answers Bad_NotSupported.
 */
export const resetToServerDefaults: PushMethodBody = async () => {
  throw new StatusFault(StatusCodes.BadNotSupported, "this server does not reset its configuration: push a certificate and a trust list instead");
};
