import { createHash } from "node:crypto";
import { MessageSecurityMode, UserNameIdentityToken, X509IdentityToken, type ISessionContext } from "node-opcua";
import { ChannelSecurity, type Caller } from "../domain/caller";
import type { Role } from "../domain/roles";
import type { CertificateService } from "../services/certificate-service";
import type { UserService } from "../services/user-service";

const CHANNEL_OF_MODE: Record<number, ChannelSecurity> = {
  [MessageSecurityMode.None]: ChannelSecurity.None,
  [MessageSecurityMode.Sign]: ChannelSecurity.Sign,
  [MessageSecurityMode.SignAndEncrypt]: ChannelSecurity.SignAndEncrypt,
};

interface SessionLike {
  userIdentityToken?: unknown;
  channel?: { securityMode?: MessageSecurityMode; clientCertificate?: Buffer | null };
}

function sha1Hex(der: Buffer): string {
  return createHash("sha1").update(der).digest("hex");
}

/**
 * Builds the Caller of a method call from its session. Roles are read from the database on every
 * call, so a role removed with the CLI takes effect at once, also for open sessions.
 */
export async function resolveCaller(context: ISessionContext, users: UserService, certificates: CertificateService): Promise<Caller> {
  const session = context.session as unknown as SessionLike | undefined;
  const channel = CHANNEL_OF_MODE[session?.channel?.securityMode ?? MessageSecurityMode.None] ?? ChannelSecurity.None;
  const clientCertificate = session?.channel?.clientCertificate;
  const token = session?.userIdentityToken;
  let user: string | null = null;
  let roles: Role[] = [];
  if (token instanceof UserNameIdentityToken && token.userName) {
    user = token.userName;
    roles = await users.rolesOfUser(token.userName);
  } else if (token instanceof X509IdentityToken && token.certificateData) {
    const owner = await users.userOfCertificate(sha1Hex(token.certificateData));
    if (owner) {
      user = owner.name;
      roles = owner.roles;
    }
  }
  const clientCertificateThumbprint = clientCertificate && clientCertificate.length ? sha1Hex(clientCertificate) : null;
  // Self-admin needs proof of the key: only a secured channel proves the client holds it.
  const selfApplicationId = clientCertificateThumbprint && channel >= ChannelSecurity.Sign ? await certificates.applicationOfCertificate(clientCertificateThumbprint) : null;
  return { channel, user, roles: new Set(roles), clientCertificateThumbprint, selfApplicationId };
}

/** Names the caller in audit records: the user, or the client application when anonymous. */
export function actorOf(caller: Caller): string {
  if (caller.user) return caller.user;
  return caller.clientCertificateThumbprint ? `anonymous (client ${caller.clientCertificateThumbprint})` : "anonymous";
}
