import { NodeId, type IAddressSpace } from "node-opcua";

/** Namespace URI of the GDS information model (OPC 10000-12). */
export const GDS_NAMESPACE_URI = "http://opcfoundation.org/UA/GDS/";

/** Numeric ids in the GDS namespace (GDS NodeSet 1.05.07), resolved against the runtime index. */
export const GDS_IDS = {
  ApplicationRecordDataType: 1,
  Directory: 141,
} as const;

/** Index of the GDS namespace in this address space (it is not fixed: resolve it by URI). */
export function gdsNamespaceIndex(addressSpace: IAddressSpace): number {
  const index = addressSpace.getNamespaceIndex(GDS_NAMESPACE_URI);
  if (index < 0) throw new Error("the GDS NodeSet is not loaded");
  return index;
}

/** A NodeId in the GDS namespace. */
export function gdsNodeId(addressSpace: IAddressSpace, id: number): NodeId {
  return new NodeId(NodeId.NodeIdType.NUMERIC, id, gdsNamespaceIndex(addressSpace));
}
