import type { Caller } from "./caller";
import { ChannelSecurity } from "./caller";
import { GdsError } from "./errors";
import type { Role } from "./roles";

/** What a method demands of its caller; `anyOf: []` means any session may call. */
export interface AccessRule {
  minChannel: ChannelSecurity;
  authenticated: boolean;
  anyOf: readonly Role[];
}

/** Open to every session (FindApplications, QueryApplications, ...). */
export const OPEN: AccessRule = { minChannel: ChannelSecurity.None, authenticated: false, anyOf: [] };

/** A change to the directory: signed channel, authenticated user, DiscoveryAdmin. */
export const DISCOVERY_ADMIN: AccessRule = {
  minChannel: ChannelSecurity.Sign,
  authenticated: true,
  anyOf: ["DiscoveryAdmin"],
};

/**
 * Throws the error the standard prescribes when `caller` may not call a method guarded by `rule`:
 * the channel is checked first (Bad_SecurityModeInsufficient), then the identity and the roles
 * (Bad_UserAccessDenied).
 */
export function authorize(caller: Caller, rule: AccessRule): void {
  if (caller.channel < rule.minChannel) {
    throw new GdsError("SecurityModeInsufficient", `this method needs a ${ChannelSecurity[rule.minChannel]} channel`);
  }
  if (rule.authenticated && caller.user === null) {
    throw new GdsError("UserAccessDenied", "this method needs an authenticated user");
  }
  if (rule.anyOf.length > 0 && !rule.anyOf.some((r) => caller.roles.has(r))) {
    throw new GdsError("UserAccessDenied", `this method needs the role ${rule.anyOf.join(" or ")}`);
  }
}
