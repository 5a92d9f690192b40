import { DataType, NodeId, StatusCodes, type IAddressSpace, type StatusCode, type UAObject, type VariantLike } from "node-opcua";
import type { Caller } from "../domain/caller";
import { gdsNodeId } from "./gds-namespace";

/** The standard audit event type each audited Directory method raises (OPC 10000-12 §6.6, §7.10). */
const EVENT_TYPE_OF_METHOD: Record<string, number> = {
  RegisterApplication: 26,
  UpdateApplication: 26,
  UnregisterApplication: 26,
  StartSigningRequest: 91,
  StartNewKeyPairRequest: 91,
  FinishRequest: 109,
  RevokeCertificate: 27,
};

/** One audited method call, as an AuditUpdateMethodEventType and its subtypes describe it. */
export interface AuditedCall {
  methodName: string;
  methodNode: { nodeId: NodeId };
  /** Who acted, for the message. */
  actor: string;
  /** ClientUserId: the user, or the actor when anonymous. */
  clientUserId: string;
  status: StatusCode;
  /** Fields of the event subtype (CertificateGroup, CertificateType, ...). */
  fields?: Record<string, VariantLike>;
}

/** Raises the standard audit events of the GDS and of push management on the Server object, with the real outcome. */
export class AuditEvents {
  constructor(
    private readonly addressSpace: IAddressSpace,
    private readonly serverUri: string,
  ) {}

  private notifierParents?: boolean;

  /**
   * True when an event raised on the Server object reaches someone. node-opcua hands events to
   * subscriptions through "event" listeners on the object and on the objects above it by HasNotifier
   * or HasEventSource; with none, building the event (about 5% of an issuance's main-thread CPU)
   * would be wasted.
   */
  private anyoneListens(server: UAObject): boolean {
    this.notifierParents ??= server.findReferencesAsObject("HasNotifier", false).length + server.findReferencesAsObject("HasEventSource", false).length > 0;
    return this.notifierParents || server.listenerCount("event") > 0;
  }

  /** Raises the event of the Directory method `methodName`, if it is audited; never throws (auditing must not fail a call). */
  raise(methodName: string, methodNode: { nodeId: NodeId }, caller: Caller | null, actor: string, status: StatusCode): void {
    const typeId = EVENT_TYPE_OF_METHOD[methodName];
    if (typeId === undefined) return;
    this.raiseEvent(() => gdsNodeId(this.addressSpace, typeId), { methodName, methodNode, actor, clientUserId: caller?.user ?? actor, status });
  }

  /** Raises an event of a standard (namespace 0) audit event type, e.g. CertificateUpdatedAuditEventType (12620); never throws. */
  raiseStandard(eventTypeNumericId: number, call: AuditedCall): void {
    this.raiseEvent(() => new NodeId(NodeId.NodeIdType.NUMERIC, eventTypeNumericId, 0), call);
  }

  private raiseEvent(typeIdOf: () => NodeId, call: AuditedCall): void {
    try {
      const server = this.addressSpace.rootFolder.objects.server as UAObject;
      if (!this.anyoneListens(server)) return;
      const eventType = this.addressSpace.findEventType(typeIdOf());
      if (!eventType) return;
      const good = call.status.value === StatusCodes.Good.value;
      server.raiseEvent(eventType, {
        message: { dataType: DataType.LocalizedText, value: { text: `${call.methodName} by ${call.actor}: ${call.status.name}` } },
        severity: { dataType: DataType.UInt16, value: good ? 100 : 500 },
        actionTimeStamp: { dataType: DataType.DateTime, value: new Date() },
        status: { dataType: DataType.Boolean, value: good },
        serverId: { dataType: DataType.String, value: this.serverUri },
        clientAuditEntryId: { dataType: DataType.String, value: "" },
        clientUserId: { dataType: DataType.String, value: call.clientUserId },
        methodId: { dataType: DataType.NodeId, value: call.methodNode.nodeId },
        ...(call.fields ?? {}),
      });
    } catch {
      // An event that cannot be raised leaves the audit table (or the caller's log) as the record of the call.
    }
  }
}
