import { DataType, VariantArrayType } from "node-opcua";
import { OPEN } from "../../domain/authorization";
import type { DirectoryService } from "../../services/directory-service";
import { encodeApplicationRecord } from "../application-record-codec";
import { stringArg } from "../arguments";
import type { MethodBinding } from "../method-binding";

/** FindApplications (OPC 10000-12 §6.5.2): ApplicationUri -> Applications[]. */
export function findApplications(directory: DirectoryService): MethodBinding {
  return {
    name: "FindApplications",
    access: OPEN,
    async call(args, ctx) {
      const records = await directory.findApplications(stringArg(args, 0, "ApplicationUri"));
      return [
        {
          dataType: DataType.ExtensionObject,
          arrayType: VariantArrayType.Array,
          value: records.map((r) => encodeApplicationRecord(ctx.addressSpace, r)),
        },
      ];
    },
  };
}
