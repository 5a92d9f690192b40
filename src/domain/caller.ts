import type { Role } from "./roles";

/** Security mode of the channel a call arrived on, ordered by strength. */
export enum ChannelSecurity {
  None = 1,
  Sign = 2,
  SignAndEncrypt = 3,
}

/**
 * Who is calling, as the services need to know it: the channel's protection, the authenticated
 * user (if any) and the roles that user holds. The OPC UA layer builds it; the CLI acts as a
 * local operator with every role, since it already holds the data folder.
 */
export interface Caller {
  channel: ChannelSecurity;
  /** User name, `x509:<thumbprint>` for a certificate user, or null for anonymous. */
  user: string | null;
  roles: ReadonlySet<Role>;
  /** Thumbprint (SHA-1 hex) of the client application certificate, when the channel is secured. */
  clientCertificateThumbprint: string | null;
  /**
   * The application whose valid, unrevoked GDS-issued certificate the client presented: the
   * caller is ApplicationSelfAdmin of that application (OPC 10000-12 §7.2).
   */
  selfApplicationId: string | null;
  /**
   * While an onboarding window is open: the ApplicationUri in the client's own (not GDS-issued)
   * certificate, which that client may register, and the id of its record once registered.
   */
  onboardingUri: string | null;
  onboardingApplicationId: string | null;
}
