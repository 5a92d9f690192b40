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

/** Thumbprints of channel certificates, computed once per certificate object a channel holds. */
const thumbprints = new WeakMap<Buffer, string>();

/**
 * Channel certificates that this GDS did not issue. A certificate reaches its holder only after its
 * row is committed, so one without a row when its holder calls never gets one: the answer holds for
 * as long as the channel keeps the certificate. (A "yes" is read again on every call: revocation and
 * expiry turn it into a "no".)
 */
const notIssuedHere = new WeakSet<Buffer>();

async function selfApplicationOf(certificate: Buffer, thumbprint: string, sources: CallerSources): Promise<string | null> {
  if (notIssuedHere.has(certificate)) return null;
  const { issuedHere, applicationId } = await sources.certificates.certificateStanding(thumbprint);
  if (!issuedHere) notIssuedHere.add(certificate);
  return applicationId;
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
  let clientCertificateThumbprint: string | null = null;
  if (hasCertificate) {
    clientCertificateThumbprint = thumbprints.get(clientCertificate!) ?? thumbprintOf(clientCertificate!);
    thumbprints.set(clientCertificate!, clientCertificateThumbprint);
  }
  // Self-admin needs proof of the key: only a secured channel proves the client holds it.
  const selfApplicationId = clientCertificateThumbprint ? await selfApplicationOf(clientCertificate!, clientCertificateThumbprint, sources) : null;
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
