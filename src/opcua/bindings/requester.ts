import { formatApplicationId } from "../../domain/application-id";
import type { Requester } from "../../services/certificate-service";
import type { CallContext } from "../method-binding";

/**
 * The requester of a certificate: trusted (issued at once under the `auto` policy) when it is a
 * CertificateAuthorityAdmin or the application itself renewing with its GDS-issued certificate.
 */
export function requesterOf(ctx: CallContext, applicationId: string): Requester {
  const self = ctx.caller.selfApplicationId === applicationId;
  return {
    actor: self && !ctx.caller.user ? `self ${formatApplicationId(applicationId)}` : ctx.actor,
    thumbprint: ctx.caller.clientCertificateThumbprint,
    trusted: self || ctx.caller.roles.has("CertificateAuthorityAdmin"),
  };
}
