import { StatusCodes, Variant, type CallMethodResultOptions, type ISessionContext, type StatusCode, type UAMethod, type VariantLike } from "node-opcua";
import type { AuditEvents } from "../audit-events";
import { leaveAuthorizationToBinding } from "../method-permissions";
import { isExpectedFailure, statusCodeOf } from "../status-codes";
import type { ConfigurationState } from "./configuration-state";

/** One ServerConfiguration method: its arguments in, its output arguments out; throws GdsError or StatusFault. */
export type PushMethodBody = (args: Variant[], context: ISessionContext, state: ConfigurationState) => Promise<VariantLike[]>;

/** The audit event a method raises with its outcome (a namespace-0 AuditUpdateMethodEventType subtype). */
export interface PushMethodAudit {
  eventTypeId: number;
  fields?(args: Variant[]): Record<string, VariantLike>;
}

/**
 * Binds a ServerConfiguration method: authorizes first (options.authorize), runs the body, maps
 * every failure to its status code (node-opcua would turn an exception into a bare
 * BadInternalError), logs only what is not the caller's doing, and raises the audit event with the
 * real outcome, refusals included.
 */
export function bindPushMethod(method: UAMethod, state: ConfigurationState, body: PushMethodBody, events: AuditEvents, audit?: PushMethodAudit): void {
  const name = method.browseName.name ?? method.nodeId.toString();
  method.bindMethod(async (inputArguments: Variant[], context: ISessionContext): Promise<CallMethodResultOptions> => {
    let statusCode: StatusCode = StatusCodes.Good;
    try {
      await state.options.authorize(context);
      const outputArguments = (await body(inputArguments, context, state)).map((v) => (v instanceof Variant ? v : new Variant(v)));
      return { statusCode, outputArguments };
    } catch (e) {
      if (!isExpectedFailure(e)) state.options.logError(`ServerConfiguration.${name} failed: ${(e as Error)?.stack ?? String(e)}`);
      statusCode = statusCodeOf(e);
      return { statusCode };
    } finally {
      if (audit) {
        const actor = state.options.actorOf(context);
        let fields: Record<string, VariantLike> = {};
        try {
          fields = audit.fields?.(inputArguments) ?? {};
        } catch {
          // Arguments that do not decode leave the event without its subtype fields.
        }
        events.raiseStandard(audit.eventTypeId, { methodName: name, methodNode: method, actor, clientUserId: actor, status: statusCode, fields });
      }
    }
  });
  leaveAuthorizationToBinding(method);
}
