import { X509Certificate } from "node:crypto";
import { MessageSecurityMode, UserNameIdentityToken, X509IdentityToken, type ISessionContext } from "node-opcua";
import { ChannelSecurity, type Caller } from "../domain/caller";
import type { Role } from "../domain/roles";
import { thumbprintOf } from "../domain/thumbprint";
import type { CertificateService } from "../services/certificate-service";
import type { DirectoryService } from "../services/directory-service";
import type { OnboardingService } from "../services/onboarding-service";
import type { UserService } from "../services/user-service";

/** The services a caller's identity is read from. */
export interface CallerSources {
  users: UserService;
  certificates: CertificateService;
  onboarding: OnboardingService;
  directory: DirectoryService;
}

const CHANNEL_OF_MODE: Record<number, ChannelSecurity> = {
  [MessageSecurityMode.None]: ChannelSecurity.None,
  [MessageSecurityMode.Sign]: ChannelSecurity.Sign,
  [MessageSecurityMode.SignAndEncrypt]: ChannelSecurity.SignAndEncrypt,
};

interface SessionLike {
  userIdentityToken?: unknown;
  channel?: { securityMode?: MessageSecurityMode; clientCertificate?: Buffer | null };
}


/** The first URI of a certificate's SubjectAltName (an OPC UA application's ApplicationUri). */
function applicationUriOf(der: Buffer): string | null {
  try {
    const san = new X509Certificate(der).subjectAltName ?? "";
    const m = /(?:^|,\s*)URI:([^,]+)/.exec(san);
    return m ? m[1].trim() : null;
  } catch {
    return null;
  }
}

/**
 * Builds the Caller of a method call from its session. Roles are read from the database on every
 * call, so a role removed with the CLI takes effect at once, also for open sessions.
 */
export async function resolveCaller(context: ISessionContext, sources: CallerSources): Promise<Caller> {
  const session = context.session as unknown as SessionLike | undefined;
  const channel = CHANNEL_OF_MODE[session?.channel?.securityMode ?? MessageSecurityMode.None] ?? ChannelSecurity.None;
  const clientCertificate = session?.channel?.clientCertificate;
  const token = session?.userIdentityToken;
  let user: string | null = null;
  let roles: Role[] = [];
  if (token instanceof UserNameIdentityToken && token.userName) {
    user = token.userName;
    roles = await sources.users.rolesOfUser(token.userName);
  } else if (token instanceof X509IdentityToken && token.certificateData) {
    const owner = await sources.users.userOfCertificate(thumbprintOf(token.certificateData));
    if (owner) {
      user = owner.name;
      roles = owner.roles;
    }
  }
  const hasCertificate = Boolean(clientCertificate && clientCertificate.length) && channel >= ChannelSecurity.Sign;
  const clientCertificateThumbprint = hasCertificate ? thumbprintOf(clientCertificate!) : null;
  // Self-admin needs proof of the key: only a secured channel proves the client holds it.
  const selfApplicationId = clientCertificateThumbprint ? await sources.certificates.applicationOfCertificate(clientCertificateThumbprint) : null;
  let onboardingUri: string | null = null;
  let onboardingApplicationId: string | null = null;
  if (clientCertificateThumbprint && selfApplicationId === null && (await sources.onboarding.isOpen())) {
    onboardingUri = applicationUriOf(clientCertificate!);
    if (onboardingUri) onboardingApplicationId = (await sources.directory.findApplications(onboardingUri))[0]?.applicationId ?? null;
  }
  return { channel, user, roles: new Set(roles), clientCertificateThumbprint, selfApplicationId, onboardingUri, onboardingApplicationId };
}

/** Names the caller in audit records: the user, or the client application when anonymous. */
export function actorOf(caller: Caller): string {
  if (caller.user) return caller.user;
  return caller.clientCertificateThumbprint ? `anonymous (client ${caller.clientCertificateThumbprint})` : "anonymous";
}
