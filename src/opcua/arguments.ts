import { DataType, NodeId, NodeIdType, type Variant, VariantArrayType } from "node-opcua";
import { APPLICATION_ID_NAMESPACE } from "../domain/application-id";
import { GdsError, invalidArgument } from "../domain/errors";

// Decoders for method input arguments. node-opcua already checks them against InputArguments;
// these keep each binding honest about what it reads and name the argument in the error.

function at(args: Variant[], index: number, name: string): Variant {
  const v = args[index];
  if (!v) throw invalidArgument(`argument ${name} is missing`);
  return v;
}

/** A String argument; null and empty both read as "". */
export function stringArg(args: Variant[], index: number, name: string): string {
  const v = at(args, index, name);
  if (v.dataType === DataType.Null) return "";
  if (v.dataType !== DataType.String || v.arrayType !== VariantArrayType.Scalar) throw invalidArgument(`${name} must be a String`);
  return (v.value as string | null) ?? "";
}

/** A UInt32 argument. */
export function uint32Arg(args: Variant[], index: number, name: string): number {
  const v = at(args, index, name);
  if (v.dataType !== DataType.UInt32 || v.arrayType !== VariantArrayType.Scalar) throw invalidArgument(`${name} must be a UInt32`);
  return v.value as number;
}

/** A String[] argument; null reads as []. */
export function stringArrayArg(args: Variant[], index: number, name: string): string[] {
  const v = at(args, index, name);
  if (v.dataType === DataType.Null || v.value === null) return [];
  if (v.dataType !== DataType.String || v.arrayType !== VariantArrayType.Array) throw invalidArgument(`${name} must be a String array`);
  return Array.from(v.value as Array<string | null>, (s) => s ?? "");
}

/** A scalar ExtensionObject argument. */
export function extensionObjectArg<T>(args: Variant[], index: number, name: string): T {
  const v = at(args, index, name);
  if (v.dataType !== DataType.ExtensionObject || v.arrayType !== VariantArrayType.Scalar || !v.value) throw invalidArgument(`${name} must be an ExtensionObject`);
  return v.value as T;
}

/**
 * An ApplicationId argument, returned as its GUID. A NodeId that is not a GUID in the GDS's
 * application namespace cannot name a record: NotFound, as for an unknown GUID.
 */
export function applicationIdArg(args: Variant[], index: number, name = "ApplicationId"): string {
  const v = at(args, index, name);
  if (v.dataType !== DataType.NodeId || v.arrayType !== VariantArrayType.Scalar) throw invalidArgument(`${name} must be a NodeId`);
  return applicationIdOf(v.value as NodeId | null, name);
}

/** The GUID of an ApplicationId NodeId (see applicationIdArg). */
export function applicationIdOf(nodeId: NodeId | null | undefined, name = "ApplicationId"): string {
  if (!nodeId || nodeId.isEmpty()) throw invalidArgument(`${name} is null`);
  if (nodeId.identifierType !== NodeIdType.GUID || nodeId.namespace !== APPLICATION_ID_NAMESPACE) {
    throw new GdsError("NotFound", `${name} ${nodeId.toString()} is not an ApplicationId of this GDS`);
  }
  return String(nodeId.value).toLowerCase();
}

/** A ByteString argument; null reads as an empty buffer. */
export function byteStringArg(args: Variant[], index: number, name: string): Buffer {
  const v = at(args, index, name);
  if (v.dataType === DataType.Null || v.value === null) return Buffer.alloc(0);
  if (v.dataType !== DataType.ByteString || v.arrayType !== VariantArrayType.Scalar) throw invalidArgument(`${name} must be a ByteString`);
  return v.value as Buffer;
}

/**
 * A NodeId argument naming a node by its numeric id in `namespace` (certificate groups in the GDS
 * namespace, certificate types in namespace 0); a null NodeId reads as null (the default).
 */
export function numericNodeIdArg(args: Variant[], index: number, name: string, namespace: number): number | null {
  const v = at(args, index, name);
  if (v.dataType === DataType.Null) return null;
  if (v.dataType !== DataType.NodeId || v.arrayType !== VariantArrayType.Scalar) throw invalidArgument(`${name} must be a NodeId`);
  const nodeId = v.value as NodeId | null;
  if (!nodeId || nodeId.isEmpty()) return null;
  if (nodeId.identifierType !== NodeIdType.NUMERIC || nodeId.namespace !== namespace) throw invalidArgument(`${name} ${nodeId.toString()} is not known here`);
  return nodeId.value as number;
}

/** A Boolean argument. */
export function booleanArg(args: Variant[], index: number, name: string): boolean {
  const v = at(args, index, name);
  if (v.dataType !== DataType.Boolean || v.arrayType !== VariantArrayType.Scalar) throw invalidArgument(`${name} must be a Boolean`);
  return v.value as boolean;
}

/** A ByteString[] argument; null reads as [], a null element as an empty buffer. */
export function byteStringArrayArg(args: Variant[], index: number, name: string): Buffer[] {
  const v = at(args, index, name);
  if (v.dataType === DataType.Null || v.value === null) return [];
  if (v.dataType !== DataType.ByteString || v.arrayType !== VariantArrayType.Array) throw invalidArgument(`${name} must be a ByteString array`);
  return Array.from(v.value as Array<Buffer | null>, (b) => b ?? Buffer.alloc(0));
}
