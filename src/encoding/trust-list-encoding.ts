import { BinaryStream } from "node-opcua";
import { TrustListDataType } from "node-opcua-types";
import { GdsError } from "../domain/errors";
import type { TrustListLists } from "../domain/push";

/**
 * UA-binary encoding of TrustListDataType (ns=0;i=12554), the content of a TrustList file object
 * (OPC 10000-12 §7.8.2): shared by the GDS's own TrustList objects (opcua/), the client library's
 * reader (client/) and the push client that writes a device's trust list (push/).
 */

/** The certificates and CRLs of a trust list, each DER encoded. */
export type TrustListContent = TrustListLists;

/** TrustListMasks (OPC 10000-12 §7.8.2.9): which lists a TrustListDataType specifies. */
export const TrustListMasks = {
  None: 0,
  TrustedCertificates: 1,
  TrustedCrls: 2,
  IssuerCertificates: 4,
  IssuerCrls: 8,
  All: 15,
} as const;

/**
 * Encodes TrustListDataType, body only, as the TrustList file holds it: SpecifiedLists = `masks`,
 * and only the lists selected by `masks` filled (the others empty).
 */
export function encodeTrustList(content: TrustListContent, masks: number): Buffer {
  if (!Number.isInteger(masks) || masks < 0 || masks > TrustListMasks.All) {
    throw new RangeError(`TrustList masks must be an integer from 0 to 15, got ${masks}`);
  }
  const pick = (bit: number, list: Buffer[]) => ((masks & bit) !== 0 ? list : []);
  const value = new TrustListDataType({
    specifiedLists: masks,
    trustedCertificates: pick(TrustListMasks.TrustedCertificates, content.trustedCertificates),
    trustedCrls: pick(TrustListMasks.TrustedCrls, content.trustedCrls),
    issuerCertificates: pick(TrustListMasks.IssuerCertificates, content.issuerCertificates),
    issuerCrls: pick(TrustListMasks.IssuerCrls, content.issuerCrls),
  });
  const stream = new BinaryStream(value.binaryStoreSize());
  value.encode(stream);
  return stream.buffer.subarray(0, stream.length);
}

/** A decoded TrustList file: the lists and which of them it specifies (the others are to be left as they are). */
export interface DecodedTrustList extends TrustListContent {
  specifiedLists: number;
}

/**
 * Decodes the content of a TrustList file. Truncated, trailing or otherwise malformed bytes, and
 * masks outside 0..15, reject with GdsError "InvalidArgument".
 */
export function decodeTrustList(data: Buffer): DecodedTrustList {
  const value = new TrustListDataType();
  const stream = new BinaryStream(data);
  try {
    value.decode(stream);
  } catch {
    throw new GdsError("InvalidArgument", "the TrustList file is not a UA-binary TrustListDataType");
  }
  if (stream.length !== data.length) throw new GdsError("InvalidArgument", "the TrustList file has bytes after its TrustListDataType");
  const masks = value.specifiedLists;
  if (!Number.isInteger(masks) || masks < 0 || masks > TrustListMasks.All) throw new GdsError("InvalidArgument", "the TrustList file's SpecifiedLists has bits other than 0..15");
  const list = (l: Buffer[] | null | undefined) => (l ?? []).map((b) => Buffer.from(b ?? Buffer.alloc(0)));
  return {
    specifiedLists: masks,
    trustedCertificates: list(value.trustedCertificates),
    trustedCrls: list(value.trustedCrls),
    issuerCertificates: list(value.issuerCertificates),
    issuerCrls: list(value.issuerCrls),
  };
}
