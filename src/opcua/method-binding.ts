import { StatusCodes, type IAddressSpace, type CallMethodResultOptions, type ISessionContext, type StatusCode, type UAMethod, type Variant, type VariantLike } from "node-opcua";
import type { AuditEvents } from "./audit-events";
import type { Caller } from "../domain/caller";
import { authorize, checkChannel, type AccessRule } from "../domain/authorization";
import { GdsError } from "../domain/errors";
import { actorOf, resolveCaller, type CallerSources } from "./caller-resolver";
import { statusCodeOf } from "./status-codes";

/** What a binding gets besides its arguments. */
export interface CallContext {
  caller: Caller;
  /** Who acted, for audit records. */
  actor: string;
  preferredLocales: string[];
  addressSpace: IAddressSpace;
}

/**
 * One OPC UA method bound to one service call: the binding declares who may call it and translates
 * arguments and results; everything else is the service's business.
 */
export interface MethodBinding {
  /** BrowseName of the method (the spec name). */
  name: string;
  access: AccessRule;
  /** The application the call acts on, for ApplicationSelfAdmin (decoded after the channel check). */
  target?(args: Variant[]): string;
  call(args: Variant[], ctx: CallContext): Promise<VariantLike[]>;
}

/** Logs failures that are not the caller's fault, without any argument content. */
export type ErrorLog = (message: string) => void;

/** Told of every answered call (for request counters); must not throw. */
export type CallObserver = (method: string, statusName: string) => void;

/**
 * Binds `binding` to `method`: resolves the caller, checks access, calls, and maps every error to
 * a status code, since node-opcua would turn any exception into a bare BadInternalError.
 */
export function bindMethod(method: UAMethod, binding: MethodBinding, sources: CallerSources, logError: ErrorLog, audit?: AuditEvents, observe?: CallObserver): void {
  const addressSpace = method.addressSpace;
  method.bindMethod(async (inputArguments: Variant[], context: ISessionContext): Promise<CallMethodResultOptions> => {
    let caller: Caller | null = null;
    let statusCode: StatusCode = StatusCodes.Good;
    try {
      caller = await resolveCaller(context, sources);
      checkChannel(caller, binding.access);
      authorize(caller, binding.access, binding.target ? binding.target(inputArguments) : null);
      const locales = (context.session as unknown as { localeIds?: string[] } | undefined)?.localeIds ?? [];
      const outputArguments = await binding.call(inputArguments, { caller, actor: actorOf(caller), preferredLocales: locales, addressSpace });
      return { statusCode, outputArguments };
    } catch (e) {
      if (!(e instanceof GdsError)) logError(`${binding.name} failed: ${(e as Error)?.stack ?? String(e)}`);
      statusCode = statusCodeOf(e);
      return { statusCode };
    } finally {
      // Raised with the real outcome, refusals included: an audit trail that shows only successes hides attacks.
      audit?.raise(binding.name, method, caller, caller ? actorOf(caller) : "unknown", statusCode);
      observe?.(binding.name, statusCode.name);
    }
  });
}

/** Binds a method that this GDS does not implement yet, so it answers BadNotImplemented. */
export function bindNotImplemented(method: UAMethod): void {
  method.bindMethod(async (_inputArguments: Variant[], _context: ISessionContext): Promise<CallMethodResultOptions> => ({
    statusCode: StatusCodes.BadNotImplemented,
  }));
}
