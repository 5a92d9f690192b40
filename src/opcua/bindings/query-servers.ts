import { DataType, ServerOnNetwork, VariantArrayType } from "node-opcua";
import { OPEN } from "../../domain/authorization";
import type { DirectoryService } from "../../services/directory-service";
import { stringArg, stringArrayArg, uint32Arg } from "../arguments";
import type { MethodBinding } from "../method-binding";

/** QueryServers (OPC 10000-12 §6.5.11, deprecated but mandatory): filters -> LastCounterResetTime, Servers[]. */
export function queryServers(directory: DirectoryService): MethodBinding {
  return {
    name: "QueryServers",
    access: OPEN,
    async call(args, ctx) {
      const result = await directory.queryServers({
        startingRecordId: uint32Arg(args, 0, "StartingRecordId"),
        maxRecordsToReturn: uint32Arg(args, 1, "MaxRecordsToReturn"),
        applicationName: stringArg(args, 2, "ApplicationName"),
        applicationUri: stringArg(args, 3, "ApplicationUri"),
        productUri: stringArg(args, 4, "ProductUri"),
        capabilities: stringArrayArg(args, 5, "ServerCapabilities"),
        preferredLocales: ctx.preferredLocales,
      });
      return [
        { dataType: DataType.DateTime, value: new Date(result.lastCounterResetTimeMs) },
        {
          dataType: DataType.ExtensionObject,
          arrayType: VariantArrayType.Array,
          value: result.servers.map((s) => new ServerOnNetwork(s)),
        },
      ];
    },
  };
}
