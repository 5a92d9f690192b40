import { DataType } from "node-opcua";
import { OPEN } from "../../domain/authorization";
import type { DirectoryService } from "../../services/directory-service";
import { encodeApplicationRecord } from "../application-record-codec";
import { applicationIdArg } from "../arguments";
import type { MethodBinding } from "../method-binding";

/**
 * GetApplication (OPC 10000-12 §6.5.6): ApplicationId -> Application. Open like FindApplications,
 * which returns the same record to any session.
 */
export function getApplication(directory: DirectoryService): MethodBinding {
  return {
    name: "GetApplication",
    access: OPEN,
    async call(args, ctx) {
      const record = await directory.getApplication(applicationIdArg(args, 0));
      return [{ dataType: DataType.ExtensionObject, value: encodeApplicationRecord(ctx.addressSpace, record) }];
    },
  };
}
