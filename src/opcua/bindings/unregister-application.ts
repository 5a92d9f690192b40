import { DISCOVERY_ADMIN_OR_SELF } from "../../domain/authorization";
import type { DirectoryService } from "../../services/directory-service";
import { applicationIdArg } from "../arguments";
import type { MethodBinding } from "../method-binding";

/** UnregisterApplication (OPC 10000-12 §6.5.5): ApplicationId -> (). */
export function unregisterApplication(directory: DirectoryService): MethodBinding {
  return {
    name: "UnregisterApplication",
    access: DISCOVERY_ADMIN_OR_SELF,
    target: (args) => applicationIdArg(args, 0),
    async call(args, ctx) {
      await directory.unregisterApplication(ctx.actor, applicationIdArg(args, 0));
      return [];
    },
  };
}
