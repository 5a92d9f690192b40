import { formatApplicationId } from "../../domain/application-id";
import type { Requester } from "../../services/certificate-service";
import type { CallContext } from "../method-binding";

/**
 * The requester of a certificate: trusted (issued at once under the `auto` policy) when it is a
 * CertificateAuthorityAdmin or the application itself renewing with its GDS-issued certificate;
 * a device enrolling in an onboarding window is never trusted: its requests wait for approval.
 */
export function requesterOf(ctx: CallContext, applicationId: string): Requester {
  const self = ctx.caller.selfApplicationId === applicationId;
  const admin = ctx.caller.user !== null && ctx.caller.roles.has("CertificateAuthorityAdmin");
  const onboarding = !admin && !self && ctx.caller.onboardingApplicationId === applicationId;
  return {
    actor: self && !ctx.caller.user ? `self ${formatApplicationId(applicationId)}` : onboarding ? `onboarding ${ctx.actor}` : ctx.actor,
    thumbprint: ctx.caller.clientCertificateThumbprint,
    trusted: self || admin,
    admin,
    self,
  };
}
