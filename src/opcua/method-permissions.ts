import { NodeId, PermissionType, sameNodeId, type BaseNode, type UAMethod } from "node-opcua";

const ANONYMOUS_ROLE = NodeId.resolveNodeId("i=15644");

/**
 * The GDS NodeSet lets only named roles call most of its methods and read their argument
 * definitions. Who may call is decided in each binding (which also knows ApplicationSelfAdmin, a
 * privilege no role node expresses), so every session may call the method and read its
 * InputArguments and OutputArguments, which are public in the NodeSet anyway. node-opcua gives every
 * session the Anonymous role, so granting that role grants every session.
 */
export function leaveAuthorizationToBinding(method: UAMethod): void {
  const grant = (node: BaseNode, permissions: number) => {
    const others = (node.rolePermissions ?? []).filter((r) => !sameNodeId(r.roleId as NodeId, ANONYMOUS_ROLE));
    node.setRolePermissions([...others, { roleId: ANONYMOUS_ROLE, permissions }]);
  };
  grant(method, PermissionType.Browse | PermissionType.Call);
  for (const args of [method.inputArguments, method.outputArguments]) if (args) grant(args, PermissionType.Browse | PermissionType.Read);
}
