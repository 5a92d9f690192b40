import { DataType, StatusCodes, type IAddressSpace, type NodeId, type StatusCode, type UAObject } from "node-opcua";
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

/** Raises the standard audit events of the GDS on its Server object, with the real outcome. */
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

  /** Raises the event of `methodName`, if it is audited; never throws (auditing must not fail a call). */
  raise(methodName: string, methodNode: { nodeId: NodeId }, caller: Caller | null, actor: string, status: StatusCode): void {
    const typeId = EVENT_TYPE_OF_METHOD[methodName];
    if (typeId === undefined) return;
    try {
      const server = this.addressSpace.rootFolder.objects.server as UAObject;
      if (!this.anyoneListens(server)) return;
      const eventType = this.addressSpace.findEventType(gdsNodeId(this.addressSpace, typeId));
      if (!eventType) return;
      server.raiseEvent(eventType, {
        message: { dataType: DataType.LocalizedText, value: { text: `${methodName} by ${actor}: ${status.name}` } },
        severity: { dataType: DataType.UInt16, value: status.value === StatusCodes.Good.value ? 100 : 500 },
        actionTimeStamp: { dataType: DataType.DateTime, value: new Date() },
        status: { dataType: DataType.Boolean, value: status.value === StatusCodes.Good.value },
        serverId: { dataType: DataType.String, value: this.serverUri },
        clientAuditEntryId: { dataType: DataType.String, value: "" },
        clientUserId: { dataType: DataType.String, value: caller?.user ?? actor },
        methodId: { dataType: DataType.NodeId, value: methodNode.nodeId },
      });
    } catch {
      // An event that cannot be raised leaves the audit table as the record of the call.
    }
  }
}
