import type { ExtensionObject, NodeId } from "node-opcua";
import { DISCOVERY_ADMIN_OR_SELF } from "../../domain/authorization";
import type { DirectoryService } from "../../services/directory-service";
import { decodeApplicationRecord } from "../application-record-codec";
import { applicationIdOf, extensionObjectArg } from "../arguments";
import type { MethodBinding } from "../method-binding";

/** UpdateApplication (OPC 10000-12 §6.5.4): Application -> (). */
export function updateApplication(directory: DirectoryService): MethodBinding {
  return {
    name: "UpdateApplication",
    access: DISCOVERY_ADMIN_OR_SELF,
    target: (args) => applicationIdOf(extensionObjectArg<{ applicationId?: NodeId | null }>(args, 0, "Application").applicationId),
    async call(args, ctx) {
      const { applicationId, fields } = decodeApplicationRecord(ctx.addressSpace, extensionObjectArg<ExtensionObject>(args, 0, "Application"));
      await directory.updateApplication(ctx.actor, applicationIdOf(applicationId), fields);
      return [];
    },
  };
}
