import type { Caller } from "./caller";
import { ChannelSecurity } from "./caller";
import { GdsError } from "./errors";
import type { Role } from "./roles";

/** What a method demands of its caller; `anyOf: []` means any session may call. */
export interface AccessRule {
  minChannel: ChannelSecurity;
  authenticated: boolean;
  anyOf: readonly Role[];
  /** An application acting on itself (ApplicationSelfAdmin) is allowed too, even anonymous. */
  selfAdmin?: boolean;
  /** During an onboarding window, a device acting on the record of its own certificate's URI. */
  onboarding?: boolean;
}

/** Open to every session (FindApplications, QueryApplications, ...). */
export const OPEN: AccessRule = { minChannel: ChannelSecurity.None, authenticated: false, anyOf: [] };

/** Registering an application: signed channel, authenticated user, DiscoveryAdmin. */
export const DISCOVERY_ADMIN: AccessRule = {
  minChannel: ChannelSecurity.Sign,
  authenticated: true,
  anyOf: ["DiscoveryAdmin"],
};

/** Changing or removing a record: DiscoveryAdmin, or the application itself. */
export const DISCOVERY_ADMIN_OR_SELF: AccessRule = { ...DISCOVERY_ADMIN, selfAdmin: true };

/** Pull certificate management (§7.9): SignAndEncrypt, CertificateAuthorityAdmin or the application itself. */
export const CERTIFICATE_ADMIN_OR_SELF: AccessRule = {
  minChannel: ChannelSecurity.SignAndEncrypt,
  authenticated: true,
  anyOf: ["CertificateAuthorityAdmin"],
  selfAdmin: true,
};

/** Asking for a certificate: as CERTIFICATE_ADMIN_OR_SELF, and devices enrolling in an onboarding window. */
export const CERTIFICATE_REQUEST: AccessRule = { ...CERTIFICATE_ADMIN_OR_SELF, onboarding: true };

/**
 * Collecting a certificate: any SignAndEncrypt session may call FinishRequest; the certificate
 * service then delivers only to an admin, to the application itself, or to the client certificate
 * that made the request (a device approved after its onboarding window closed).
 */
export const CERTIFICATE_COLLECTION: AccessRule = { minChannel: ChannelSecurity.SignAndEncrypt, authenticated: false, anyOf: [] };

/** Revocation: SignAndEncrypt and CertificateAuthorityAdmin only. */
export const CERTIFICATE_ADMIN: AccessRule = {
  minChannel: ChannelSecurity.SignAndEncrypt,
  authenticated: true,
  anyOf: ["CertificateAuthorityAdmin"],
};

/** Push management of the GDS itself (OPC 10000-12 §7.10): SignAndEncrypt and SecurityAdmin. */
export const SECURITY_ADMIN: AccessRule = {
  minChannel: ChannelSecurity.SignAndEncrypt,
  authenticated: true,
  anyOf: ["SecurityAdmin"],
};

/**
 * Reading a certificate group's TrustList object. OPC 10000-12 §7.8.2.1 restricts it to "an
 * Administrative user that is reading a TrustList to deploy to an Application host or ... an
 * Application that can only access the TrustList assigned to it"; as the UA-.NETStandard GDS does,
 * the administrators are CertificateAuthorityAdmin and SecurityAdmin, and ApplicationSelfAdmin
 * covers only the groups of the caller's own application (the target passed to `authorize`). The
 * content is public (CA certificates and CRLs), so a signed channel suffices.
 */
export const GROUP_TRUST_LIST_READER: AccessRule = {
  minChannel: ChannelSecurity.Sign,
  authenticated: true,
  anyOf: ["CertificateAuthorityAdmin", "SecurityAdmin"],
  selfAdmin: true,
};

/** Any session on an authenticated (signed) channel. */
export const SIGNED_CHANNEL: AccessRule = { minChannel: ChannelSecurity.Sign, authenticated: false, anyOf: [] };

/** Throws Bad_SecurityModeInsufficient when the channel is weaker than the rule asks. */
export function checkChannel(caller: Caller, rule: AccessRule): void {
  if (caller.channel < rule.minChannel) {
    throw new GdsError("SecurityModeInsufficient", `this method needs a ${ChannelSecurity[rule.minChannel]} channel`);
  }
}

/**
 * Throws the error the standard prescribes when `caller` may not call a method guarded by `rule`
 * on `targetApplicationId`: the channel is checked first (Bad_SecurityModeInsufficient), then the
 * self-admin privilege, the identity and the roles (Bad_UserAccessDenied).
 */
export function authorize(caller: Caller, rule: AccessRule, targetApplicationId: string | null = null): void {
  checkChannel(caller, rule);
  if (rule.selfAdmin && targetApplicationId !== null && caller.selfApplicationId === targetApplicationId) return;
  if (rule.onboarding && targetApplicationId !== null && caller.onboardingApplicationId === targetApplicationId) return;
  if (rule.authenticated && caller.user === null) {
    throw new GdsError("UserAccessDenied", "this method needs an authenticated user");
  }
  if (rule.anyOf.length > 0 && !rule.anyOf.some((r) => caller.roles.has(r))) {
    throw new GdsError("UserAccessDenied", `this method needs the role ${rule.anyOf.join(" or ")}`);
  }
}

/**
 * RegisterApplication: a DiscoveryAdmin on a signed channel, or, while an onboarding window is
 * open, a device registering exactly the ApplicationUri of its own certificate.
 */
export function authorizeRegistration(caller: Caller, applicationUri: string): "admin" | "onboarding" {
  checkChannel(caller, DISCOVERY_ADMIN);
  if (caller.user !== null && caller.roles.has("DiscoveryAdmin")) return "admin";
  if (caller.onboardingUri !== null && caller.onboardingUri === applicationUri) return "onboarding";
  authorize(caller, DISCOVERY_ADMIN);
  throw new GdsError("UserAccessDenied", "this method needs the role DiscoveryAdmin");
}
