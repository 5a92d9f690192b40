import { ApplicationDescription, DataType, LocalizedText, VariantArrayType } from "node-opcua";
import { OPEN } from "../../domain/authorization";
import type { DirectoryService } from "../../services/directory-service";
import { stringArg, stringArrayArg, uint32Arg } from "../arguments";
import type { MethodBinding } from "../method-binding";

/** QueryApplications (OPC 10000-12 §6.5.10): filters -> LastCounterResetTime, NextRecordId, Applications[]. */
export function queryApplications(directory: DirectoryService): MethodBinding {
  return {
    name: "QueryApplications",
    access: OPEN,
    async call(args, ctx) {
      const result = await directory.queryApplications({
        startingRecordId: uint32Arg(args, 0, "StartingRecordId"),
        maxRecordsToReturn: uint32Arg(args, 1, "MaxRecordsToReturn"),
        applicationName: stringArg(args, 2, "ApplicationName"),
        applicationUri: stringArg(args, 3, "ApplicationUri"),
        applicationType: uint32Arg(args, 4, "ApplicationType"),
        productUri: stringArg(args, 5, "ProductUri"),
        capabilities: stringArrayArg(args, 6, "Capabilities"),
        preferredLocales: ctx.preferredLocales,
      });
      return [
        { dataType: DataType.DateTime, value: new Date(result.lastCounterResetTimeMs) },
        { dataType: DataType.UInt32, value: result.nextRecordId },
        {
          dataType: DataType.ExtensionObject,
          arrayType: VariantArrayType.Array,
          value: result.applications.map(
            (a) =>
              new ApplicationDescription({
                applicationUri: a.applicationUri,
                productUri: a.productUri,
                applicationName: new LocalizedText({ locale: a.applicationName.locale, text: a.applicationName.text }),
                applicationType: a.applicationType,
                discoveryUrls: a.discoveryUrls,
              }),
          ),
        },
      ];
    },
  };
}
