import { LocalizedText, NodeId, sameNodeId, type IAddressSpace, type ExtensionObject } from "node-opcua";
import type { ApplicationFields, ApplicationRecord } from "../domain/application";
import { formatApplicationId } from "../domain/application-id";
import { invalidArgument } from "../domain/errors";
import { GDS_IDS, gdsNodeId } from "./gds-namespace";

/** The fields node-opcua decodes an ApplicationRecordDataType into. */
interface ApplicationRecordObject {
  applicationId?: NodeId | null;
  applicationUri?: string | null;
  applicationType?: number;
  applicationNames?: Array<{ locale?: string | null; text?: string | null }> | null;
  productUri?: string | null;
  discoveryUrls?: Array<string | null> | null;
  serverCapabilities?: Array<string | null> | null;
}

/** Reads an ApplicationRecordDataType argument; any other structure is an invalid argument. */
export function decodeApplicationRecord(addressSpace: IAddressSpace, value: ExtensionObject): { applicationId: NodeId | null; fields: Partial<ApplicationFields> } {
  const expected = gdsNodeId(addressSpace, GDS_IDS.ApplicationRecordDataType);
  const dataType = (value as unknown as { schema?: { dataTypeNodeId?: NodeId } }).schema?.dataTypeNodeId;
  if (!dataType || !sameNodeId(dataType, expected)) throw invalidArgument("Application must be an ApplicationRecordDataType");
  const r = value as unknown as ApplicationRecordObject;
  return {
    applicationId: r.applicationId ?? null,
    fields: {
      applicationUri: r.applicationUri ?? "",
      applicationType: r.applicationType,
      applicationNames: (r.applicationNames ?? []).map((n) => ({ locale: n?.locale ?? null, text: n?.text ?? "" })),
      productUri: r.productUri ?? "",
      discoveryUrls: (r.discoveryUrls ?? []).map((u) => u ?? ""),
      serverCapabilities: (r.serverCapabilities ?? []).map((c) => c ?? ""),
    },
  };
}

/** Builds the ApplicationRecordDataType for a stored record. */
export function encodeApplicationRecord(addressSpace: IAddressSpace, record: ApplicationRecord): ExtensionObject {
  return addressSpace.constructExtensionObject(gdsNodeId(addressSpace, GDS_IDS.ApplicationRecordDataType), {
    applicationId: NodeId.resolveNodeId(formatApplicationId(record.applicationId)),
    applicationUri: record.applicationUri,
    applicationType: record.applicationType,
    applicationNames: record.applicationNames.map((n) => new LocalizedText({ locale: n.locale, text: n.text })),
    productUri: record.productUri,
    discoveryUrls: record.discoveryUrls,
    serverCapabilities: record.serverCapabilities,
  });
}
