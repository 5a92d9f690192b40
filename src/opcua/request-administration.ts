import fs from "node:fs";
import path from "node:path";
import { DataType, LocalizedText, NodeClass, NodeId, NodeIdType, VariantArrayType, type IAddressSpace, type UAObject, type Variant, type VariantLike } from "node-opcua";
import { APPLICATION_ID_NAMESPACE } from "../domain/application-id";
import type { AccessRule } from "../domain/authorization";
import { ChannelSecurity } from "../domain/caller";
import { GdsError, invalidArgument } from "../domain/errors";
import type { CertificateService } from "../services/certificate-service";
import type { MethodBinding } from "./method-binding";

/** Namespace URI of opcua-gds's own information model (nodesets/opcua-gds.NodeSet2.xml). */
export const OPCUA_GDS_NAMESPACE_URI = "urn:opcua-gds:model";

/**
 * Absolute path of opcua-gds's own NodeSet. tsc does not copy it: it stays in <repo>/nodesets,
 * three levels above this module once compiled (dist/src/opcua/).
 */
export const OPCUA_GDS_NODESET = path.resolve(__dirname, "..", "..", "..", "nodesets", "opcua-gds.NodeSet2.xml");

/** Numeric ids in the opcua-gds namespace, resolved against the runtime namespace index. */
export const OPCUA_GDS_IDS = {
  CertificateRequests: 1000,
} as const;

/** The approval desk: SignAndEncrypt (the list names every pending device) and RegistrationAuthorityAdmin. */
export const REGISTRATION_AUTHORITY_ADMIN: AccessRule = {
  minChannel: ChannelSecurity.SignAndEncrypt,
  authenticated: true,
  anyOf: ["RegistrationAuthorityAdmin"],
};

/** The CertificateRequests object of the opcua-gds NodeSet in `addressSpace`; throws when the NodeSet is not loaded. */
export function certificateRequestsObject(addressSpace: IAddressSpace): UAObject {
  const index = addressSpace.getNamespaceIndex(OPCUA_GDS_NAMESPACE_URI);
  const node = index < 0 ? null : addressSpace.findNode(new NodeId(NodeIdType.NUMERIC, OPCUA_GDS_IDS.CertificateRequests, index));
  if (!node) throw new Error(`the CertificateRequests object is missing: load ${OPCUA_GDS_NODESET}`);
  return node as UAObject;
}

const XML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/**
 * Gives the Methods of the opcua-gds NodeSet the Descriptions the NodeSet declares. node-opcua
 * 2.182.2 drops the Description of UAMethod nodes while loading (objects and variables keep
 * theirs), so UaExpert would show none; a method that already has one is left alone, which makes
 * this a no-op once the loader keeps them. Reads only our own hand-written, schema-valid file.
 */
export function restoreMethodDescriptions(addressSpace: IAddressSpace, nodesetFile = OPCUA_GDS_NODESET): void {
  const index = addressSpace.getNamespaceIndex(OPCUA_GDS_NAMESPACE_URI);
  if (index < 0) throw new Error(`the opcua-gds NodeSet is not loaded: load ${nodesetFile}`);
  const xml = fs.readFileSync(nodesetFile, "utf8");
  for (const m of xml.matchAll(/<UAMethod\s(?:[^>]*\s)?NodeId="ns=1;i=(\d+)"[^>]*>([\s\S]*?)<\/UAMethod>/g)) {
    const text = /<Description>([\s\S]*?)<\/Description>/.exec(m[2])?.[1].replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => XML_ENTITIES[e]);
    const node = addressSpace.findNode(new NodeId(NodeIdType.NUMERIC, Number(m[1]), index));
    if (text && node?.nodeClass === NodeClass.Method && !node.description?.text) node.setDescription(new LocalizedText({ text }));
  }
}

function booleanArg(args: Variant[], index: number, name: string): boolean {
  const v = args[index];
  if (!v) throw invalidArgument(`argument ${name} is missing`);
  if (v.dataType !== DataType.Boolean || v.arrayType !== VariantArrayType.Scalar) throw invalidArgument(`${name} must be a Boolean`);
  return v.value === true;
}

function optionalStringArg(args: Variant[], index: number, name: string): string | null {
  const v = args[index];
  if (!v || v.dataType === DataType.Null || v.value === null || v.value === "") return null;
  if (v.dataType !== DataType.String || v.arrayType !== VariantArrayType.Scalar) throw invalidArgument(`${name} must be a String`);
  return v.value as string;
}

/**
 * A RequestId argument, returned as its GUID. Anything but a GUID NodeId is malformed
 * (InvalidArgument); a GUID outside the GDS's application namespace cannot name one of its
 * requests (NotFound, as for an unknown GUID).
 */
function requestIdArg(args: Variant[], index: number, name = "RequestId"): string {
  const v = args[index];
  if (!v) throw invalidArgument(`argument ${name} is missing`);
  if (v.dataType !== DataType.NodeId || v.arrayType !== VariantArrayType.Scalar) throw invalidArgument(`${name} must be a NodeId`);
  const nodeId = v.value as NodeId | null;
  if (!nodeId || nodeId.identifierType !== NodeIdType.GUID) throw invalidArgument(`${name} must be a GUID NodeId (ns=${APPLICATION_ID_NAMESPACE};g=<GUID>)`);
  if (nodeId.namespace !== APPLICATION_ID_NAMESPACE) throw new GdsError("NotFound", `${name} ${nodeId.toString()} is not a request of this GDS`);
  return String(nodeId.value).toLowerCase();
}

function guidNodeId(guid: string): NodeId {
  return new NodeId(NodeIdType.GUID, guid, APPLICATION_ID_NAMESPACE);
}

function array(dataType: DataType, value: unknown[]): VariantLike {
  return { dataType, arrayType: VariantArrayType.Array, value };
}

/** ListRequests: PendingOnly -> RequestIds, ApplicationIds, States, Kinds, RequestedBy, CreatedAt (parallel arrays). */
function listRequests(certificates: CertificateService): MethodBinding {
  return {
    name: "ListRequests",
    access: REGISTRATION_AUTHORITY_ADMIN,
    async call(args) {
      const pendingOnly = booleanArg(args, 0, "PendingOnly");
      const rows = await certificates.listRequests(pendingOnly ? { state: "New" } : {});
      return [
        array(DataType.NodeId, rows.map((r) => guidNodeId(r.requestId))),
        array(DataType.NodeId, rows.map((r) => guidNodeId(r.applicationId))),
        array(DataType.String, rows.map((r) => r.state)),
        array(DataType.String, rows.map((r) => r.kind)),
        array(DataType.String, rows.map((r) => r.requestedBy)),
        array(DataType.DateTime, rows.map((r) => new Date(r.createdAtMs))),
      ];
    },
  };
}

/** ApproveRequest: RequestId; approves a New request and issues its certificate. */
function approveRequest(certificates: CertificateService): MethodBinding {
  return {
    name: "ApproveRequest",
    access: REGISTRATION_AUTHORITY_ADMIN,
    async call(args, ctx) {
      await certificates.approveRequest(ctx.actor, requestIdArg(args, 0));
      return [];
    },
  };
}

/** RejectRequest: RequestId, Reason; rejects a New request. */
function rejectRequest(certificates: CertificateService): MethodBinding {
  return {
    name: "RejectRequest",
    access: REGISTRATION_AUTHORITY_ADMIN,
    async call(args, ctx) {
      const requestId = requestIdArg(args, 0);
      await certificates.rejectRequest(ctx.actor, requestId, optionalStringArg(args, 1, "Reason"));
      return [];
    },
  };
}

/**
 * The methods of the CertificateRequests object (the approval desk the CLI's `request` commands
 * also serve), by BrowseName, for the server to bind with bindMethod.
 */
export function requestAdministrationBindings(certificates: CertificateService): Array<{ methodBrowseName: string; binding: MethodBinding }> {
  return [listRequests(certificates), approveRequest(certificates), rejectRequest(certificates)].map((binding) => ({ methodBrowseName: binding.name, binding }));
}
