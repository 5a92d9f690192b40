import { DataType, NodeId, type ExtensionObject } from "node-opcua";
import { formatApplicationId } from "../../domain/application-id";
import { SIGNED_CHANNEL, authorizeRegistration } from "../../domain/authorization";
import type { DirectoryService } from "../../services/directory-service";
import { decodeApplicationRecord } from "../application-record-codec";
import { extensionObjectArg } from "../arguments";
import type { MethodBinding } from "../method-binding";

/**
 * RegisterApplication (OPC 10000-12 §6.5.3): Application -> ApplicationId. A DiscoveryAdmin may
 * register any record; during an onboarding window a device may register its own (authorizeRegistration).
 */
export function registerApplication(directory: DirectoryService): MethodBinding {
  return {
    name: "RegisterApplication",
    access: SIGNED_CHANNEL,
    async call(args, ctx) {
      const { fields } = decodeApplicationRecord(ctx.addressSpace, extensionObjectArg<ExtensionObject>(args, 0, "Application"));
      const as = authorizeRegistration(ctx.caller, String(fields.applicationUri ?? ""));
      const id = await directory.registerApplication(as === "onboarding" ? `onboarding ${ctx.actor}` : ctx.actor, fields, as === "onboarding" ? "SelfRegistration" : "RegisterApplication");
      return [{ dataType: DataType.NodeId, value: NodeId.resolveNodeId(formatApplicationId(id)) }];
    },
  };
}
