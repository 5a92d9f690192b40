import { BrowseDirection, DataType, NodeClass, StatusCodes, type ClientSession, type NodeId } from "node-opcua";
import { decodeTrustList, type DecodedTrustList } from "../encoding/trust-list-encoding";
import { GdsCallError } from "./errors";

/** The four lists of a TrustListDataType, DER each. */
export type TrustListFiles = DecodedTrustList;

/** Finds the methods of a TrustList object by BrowseName: servers in the field differ in NodeIds. */
export async function trustListMethods(session: ClientSession, trustList: NodeId): Promise<Map<string, NodeId>> {
  const result = await session.browse({ nodeId: trustList, browseDirection: BrowseDirection.Forward, referenceTypeId: "HasComponent", includeSubtypes: true, nodeClassMask: NodeClass.Method, resultMask: 63 });
  return new Map((result.references ?? []).map((r) => [r.browseName.name ?? "", r.nodeId]));
}

/**
 * Reads a TrustList file object (OPC 10000-12 §7.8.2) with OpenWithMasks, Read in chunks and
 * Close, and decodes it. `chunkSize` stays below common MaxByteStringLength limits; pass `methods`
 * when they were browsed already.
 */
export async function readTrustList(session: ClientSession, trustList: NodeId, masks = 15, chunkSize = 32 * 1024, methods?: Map<string, NodeId>): Promise<TrustListFiles> {
  const found = methods ?? (await trustListMethods(session, trustList));
  const call = async (name: string, inputArguments: Array<{ dataType: DataType; value: unknown }>) => {
    const methodId = found.get(name);
    if (!methodId) throw new Error(`the TrustList has no ${name} method`);
    const r = await session.call({ objectId: trustList, methodId, inputArguments });
    if (r.statusCode.value !== StatusCodes.Good.value) throw new GdsCallError(`TrustList.${name}`, r.statusCode);
    return r.outputArguments ?? [];
  };
  const [handle] = await call("OpenWithMasks", [{ dataType: DataType.UInt32, value: masks }]);
  const chunks: Buffer[] = [];
  try {
    for (;;) {
      const [data] = await call("Read", [
        { dataType: DataType.UInt32, value: handle.value },
        { dataType: DataType.Int32, value: chunkSize },
      ]);
      const chunk = (data.value as Buffer | null) ?? Buffer.alloc(0);
      if (chunk.length === 0) break;
      chunks.push(chunk);
    }
  } finally {
    await call("Close", [{ dataType: DataType.UInt32, value: handle.value }]);
  }
  return decodeTrustList(Buffer.concat(chunks));
}
