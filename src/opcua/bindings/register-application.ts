import { DataType, NodeId, type ExtensionObject } from "node-opcua";
import { formatApplicationId } from "../../domain/application-id";
import { DISCOVERY_ADMIN } from "../../domain/authorization";
import type { DirectoryService } from "../../services/directory-service";
import { decodeApplicationRecord } from "../application-record-codec";
import { extensionObjectArg } from "../arguments";
import type { MethodBinding } from "../method-binding";

/** RegisterApplication (OPC 10000-12 §6.5.3): Application -> ApplicationId. */
export function registerApplication(directory: DirectoryService): MethodBinding {
  return {
    name: "RegisterApplication",
    access: DISCOVERY_ADMIN,
    async call(args, ctx) {
      const { fields } = decodeApplicationRecord(ctx.addressSpace, extensionObjectArg<ExtensionObject>(args, 0, "Application"));
      const id = await directory.registerApplication(ctx.actor, fields);
      return [{ dataType: DataType.NodeId, value: NodeId.resolveNodeId(formatApplicationId(id)) }];
    },
  };
}
