import type { KeyObject } from "node:crypto";
import type { ApplicationFields, ApplicationRecord, ApplicationType } from "../domain/application";
import type { CertificateRequestRecord, RequestState } from "../domain/certificate-request";
import type { ParsedCsrFacts } from "../domain/csr-policy";
import type { LikePattern } from "../domain/like-pattern";
import type { Role } from "../domain/roles";

/** What an audited change records besides the change itself. */
export interface AuditEntry {
  actor: string;
  action: string;
  subject: string;
  outcome: string;
  details?: string;
}

/** Filter of QueryApplications and QueryServers, already compiled. */
export interface ApplicationFilter {
  /** Only records with a greater record id. */
  afterRecordId: number;
  name?: LikePattern;
  uri?: LikePattern;
  productUri?: LikePattern;
  /** Every one of these capabilities must be present. */
  capabilities: string[];
  /** Only these types; null for all. */
  types: ApplicationType[] | null;
}

/** Persistence of application records; every change is one transaction with its audit entry. */
export interface ApplicationStore {
  /** Inserts a record; `EntryExists` when the ApplicationUri is taken. */
  insert(id: string, fields: ApplicationFields, nowMs: number, audit: AuditEntry): Promise<ApplicationRecord>;
  /** Replaces a record's fields; `NotFound`, or `WriteNotSupported` when the URI would change. */
  update(id: string, fields: ApplicationFields, nowMs: number, audit: AuditEntry): Promise<ApplicationRecord>;
  /** Deletes a record and returns what it held; `NotFound` when there is none. */
  remove(id: string, audit: AuditEntry): Promise<ApplicationRecord>;
  get(id: string): Promise<ApplicationRecord | null>;
  /** Whether a record with this id exists (cheaper than `get` where the record itself is not needed). */
  exists(id: string): Promise<boolean>;
  findByUri(applicationUri: string): Promise<ApplicationRecord[]>;
  /**
   * Yields matching records in record-id order, in batches, until the consumer stops; the
   * consumer decides how many it needs (a QueryServers record counts per DiscoveryUrl).
   */
  scan(filter: ApplicationFilter, batchSize: number): AsyncIterable<ApplicationRecord>;
  list(): Promise<ApplicationRecord[]>;
  counterResetTimeMs(): Promise<number>;
}

/** A stored user. */
export interface UserRow {
  name: string;
  passwordHash: string | null;
  roles: Role[];
  certificateThumbprint: string | null;
  createdAtMs: number;
}

/** Persistence of users. */
export interface UserStore {
  insert(user: UserRow, audit: AuditEntry): Promise<void>;
  remove(name: string, audit: AuditEntry): Promise<boolean>;
  get(name: string): Promise<UserRow | null>;
  getByCertificate(thumbprint: string): Promise<UserRow | null>;
  list(): Promise<UserRow[]>;
  count(): Promise<number>;
}

/** An audit record as read back. */
export interface AuditRecord extends AuditEntry {
  seq: number;
  atMs: number;
}

/** Reading the audit trail (writing happens inside each store's own transactions). */
export interface AuditLog {
  append(entry: AuditEntry): Promise<void>;
  since(sinceMs: number, limit: number): Promise<AuditRecord[]>;
}

/** A certificate the GDS issued, as stored. */
export interface IssuedCertificateRow {
  serialHex: string;
  thumbprint: string;
  applicationId: string;
  applicationUri: string;
  groupName: string;
  certificateTypeName: string;
  issuerSerialHex: string;
  requestId: string | null;
  notBeforeMs: number;
  notAfterMs: number;
  renewalAtMs: number;
  revokedAtMs: number | null;
  revocationReason: string | null;
  der: Buffer;
}

/** The current CRL of one CA. */
export interface CrlState {
  crlNumber: number;
  crlDer: Buffer;
  thisUpdateMs: number;
  nextUpdateMs: number;
}

/** A request with what only the service may read: the CSR and the sealed key material. */
export interface StoredRequest extends CertificateRequestRecord {
  csrDer: Buffer | null;
  sealedPrivateKey: string | null;
  sealedKeyPassword: string | null;
}

/** Signs a new CRL for a CA given every unexpired revoked certificate and the next CRL number. */
export type CrlSigner = (revoked: IssuedCertificateRow[], crlNumber: number) => Promise<CrlState>;

/** Persistence of requests, issued certificates and CRLs; each change one transaction with its audit. */
export interface CertificateStore {
  insertRequest(request: StoredRequest, audit: AuditEntry): Promise<void>;
  getRequest(requestId: string): Promise<StoredRequest | null>;
  /** A request with the certificate issued for it (null while none is), in one read. */
  requestWithCertificate(requestId: string): Promise<{ request: StoredRequest; certificate: IssuedCertificateRow | null } | null>;
  listRequests(filter: { state?: RequestState; applicationId?: string }): Promise<CertificateRequestRecord[]>;
  /**
   * In one transaction: checks the request is still New, stores the signed certificate's row and
   * marks the request Approved. The certificate leaves the GDS only after this commit, so a crash
   * never leaves a delivered certificate the GDS does not know about; a certificate signed for a
   * request decided meanwhile is discarded unseen.
   */
  approveAndIssue(requestId: string, decidedBy: string, nowMs: number, row: IssuedCertificateRow, audit: AuditEntry): Promise<IssuedCertificateRow>;
  reject(requestId: string, decidedBy: string, reason: string | null, nowMs: number, audit: AuditEntry): Promise<void>;
  /**
   * Marks a request Accepted and wipes the sealed key password; a generated key stays sealed (for
   * offline bundles) until `revoke` wipes it with its certificate.
   */
  markAccepted(requestId: string, audit: AuditEntry): Promise<void>;
  certificate(serialHex: string): Promise<IssuedCertificateRow | null>;
  certificateByThumbprint(thumbprint: string): Promise<IssuedCertificateRow | null>;
  certificatesOf(applicationId: string): Promise<IssuedCertificateRow[]>;
  /**
   * Renewal planning in one query: the applications whose current certificate of the group and type
   * (the latest issued; not superseded), still unexpired, has reached its renewal time, is revoked,
   * or was signed by another CA than
   * `currentCaSerialHex`. The key-size policy is not looked at (it needs the DER).
   */
  dueForRenewal(groupName: string, typeName: string, currentCaSerialHex: string, nowMs: number): Promise<string[]>;
  /** Issued certificates, latest notAfter first. */
  listCertificates(filter: { applicationId?: string; expiringBeforeMs?: number }): Promise<IssuedCertificateRow[]>;
  /**
   * In one transaction: marks the certificates revoked (wiping the generated keys kept for them)
   * and has `signCrl` produce the CA's next CRL
   * (number + 1) with every unexpired revoked certificate of that CA, stored with the audit record.
   */
  revoke(serials: string[], reason: string, nowMs: number, signCrl: (group: string, type: string, caSerialHex: string) => CrlSigner, audit: AuditEntry): Promise<IssuedCertificateRow[]>;
  /** The CRL of the group and type's current CA. */
  crlState(group: string, type: string): Promise<CrlState | null>;
  /** The CRLs of CAs a rollover superseded that have not retired yet. */
  previousCrls(group?: string, type?: string): Promise<PreviousCrl[]>;
  /** Every certificate issued in a group and type, by any of its CAs. */
  certificatesOfGroup(group: string, type: string): Promise<IssuedCertificateRow[]>;
  /**
   * In one transaction with its audit record: CA `caSerialHex` is superseded by a new current CA;
   * it keeps a CRL of its own (signed by `signCrl` with its key) until it retires. False when it
   * already was.
   */
  supersede(group: string, type: string, caSerialHex: string, nowMs: number, signCrl: CrlSigner, audit: AuditEntry): Promise<boolean>;
  /** In one transaction with its audit record: a superseded CA retires (its CRL is dropped). False when it already had. */
  retire(group: string, type: string, caSerialHex: string, audit: AuditEntry): Promise<boolean>;
  /**
   * Re-signs a CRL with a greater number (refresh before nextUpdate, or first CRL): the current
   * CA's, or that of the superseded CA `caSerialHex`.
   */
  resignCrl(group: string, type: string, caSerialHex: string | null, nowMs: number, signCrl: CrlSigner, audit: AuditEntry): Promise<CrlState>;
}

/** The CRL of a CA a rollover superseded. */
export interface PreviousCrl extends CrlState {
  groupName: string;
  certificateTypeName: string;
  caSerialHex: string;
}

/** A public key a certificate is issued for: a WebCrypto key or a node:crypto KeyObject. */
export type PublicKeyInput = CryptoKey | KeyObject;

/** What the GDS learns from a PKCS#10 request (see domain/csr-policy for the checks). */
export interface ParsedCsrWithKey extends ParsedCsrFacts {
  /** The requester's public key, in the form the signer takes back. */
  publicKey: PublicKeyInput;
}

/** What an application certificate says about its application, exactly (OPC 10000-12 §7.6, OPC 10000-6 §6.2.2). */
export interface IssueProfile {
  /** Subject distinguished name in RFC 4514 form, e.g. `CN=Pump 1, O=Plant`. */
  subject: string;
  applicationUri: string;
  dnsNames: string[];
  ipAddresses: string[];
  lifetimeDays: number;
  /** notBefore is set this far in the past, so that a device whose clock lags accepts it. */
  backdateSeconds: number;
}

/** One CA as the services see it. */
export interface Signer {
  caCertificateDer: Buffer;
  caSerialHex: string;
  /** When the CA certificate expires. */
  caNotAfterMs: number;
  /** Parents of the CA (subordinate CA), nearest first; empty for a self-signed CA. */
  chainDer: Buffer[];
  /** True when this CA's current key signed the CRL (false after a CA replacement). */
  signedCrl(crlDer: Buffer): Promise<boolean>;
  issue(publicKey: PublicKeyInput, profile: IssueProfile): Promise<{ der: Buffer; serialHex: string; notBeforeMs: number; notAfterMs: number }>;
  signCrl(revoked: Array<{ serialHex: string; revokedAtMs: number }>, crlNumber: number, thisUpdateMs: number, nextUpdateMs: number): Promise<Buffer>;
}

/** Key and certificate operations the certificate service needs, implemented in ca/. */
export interface CertificateAuthorityPort {
  /** The current CA of a group and type: it issues every new certificate. */
  signer(groupName: string, typeName: string): Signer;
  /** The CAs a rollover superseded that have not retired yet, oldest first. */
  previousSigners(groupName: string, typeName: string): Signer[];
  /** The current or a superseded CA by its serial number; null when there is none (retired). */
  signerBySerial(groupName: string, typeName: string, caSerialHex: string): Signer | null;
  /**
   * Picks up CA files another process changed (`opcua-gds ca renew` while the server runs); cheap
   * when nothing changed. True when something did.
   */
  refresh(): Promise<boolean>;
  /**
   * Rollover: a new CA certificate (with a new key unless `reuseKey`) becomes current; the
   * current one is kept, with its key, as superseded. Returns the new and the superseded CA.
   */
  renew(groupName: string, typeName: string, options: CaRenewOptions): Promise<{ current: Signer; superseded: Signer }>;
  /** A superseded CA retires: its key is destroyed, its certificate kept for the record. Idempotent. */
  retire(groupName: string, typeName: string, caSerialHex: string): Promise<void>;
  /** Serial (hex) of the CA that issued the GDS's own application certificate; null when it has none. */
  ownCertificateIssuer(): Promise<string | null>;
  /** Issues the GDS's own application certificate again (new key) from the group's current CA. */
  renewOwnCertificate(): Promise<void>;
  parseCsr(der: Buffer): Promise<ParsedCsrWithKey>;
  generateKeyPair(bits: number): Promise<{ publicKey: CryptoKey; privateKeyPkcs8: Buffer }>;
  /** The public key of a PKCS#8 private key (a generated key approved later, maybe by another process). */
  publicKeyOf(privateKeyPkcs8: Buffer): Promise<CryptoKey>;
  packagePrivateKey(format: "PFX" | "PEM", privateKeyPkcs8: Buffer, certificateDer: Buffer, chainDer: Buffer[], password: string | null): Promise<Buffer>;
  /** SHA-1 thumbprint (hex) of a DER certificate. */
  thumbprint(der: Buffer): string;
}

/** How `opcua-gds ca renew` makes the next CA certificate. */
export interface CaRenewOptions {
  /** Keep the current key (new certificate only); by default a new key is generated. */
  reuseKey: boolean;
  /** Subject of the new CA certificate; by default that of the current one. */
  subject?: string;
}

/** Seals secrets kept in the database with a key outside it. */
export interface SecretSealer {
  seal(plain: Buffer | string): string;
  open(sealed: string): Buffer;
}

/** An onboarding window as stored; `closesAtMs` is when it closed or will close. */
export interface OnboardingWindow {
  openedAtMs: number;
  closesAtMs: number;
  openedBy: string;
  closedBy: string | null;
}

/** Persistence of onboarding windows. */
export interface OnboardingStore {
  latest(): Promise<OnboardingWindow | null>;
  open(openedBy: string, nowMs: number, closesAtMs: number, audit: AuditEntry): Promise<void>;
  /** Closes the open window; false when none was open. */
  close(closedBy: string, nowMs: number, audit: AuditEntry): Promise<boolean>;
}

/** The current certificate of one application, group and type: what monitoring watches. */
export interface CurrentCertificate {
  serialHex: string;
  applicationId: string;
  applicationUri: string;
  groupName: string;
  certificateTypeName: string;
  notAfterMs: number;
  renewalAtMs: number;
}

/** Counts over the whole fleet, for `status` and monitoring. */
export interface FleetCounts {
  applications: number;
  certificates: { valid: number; renewalDue: number; expired: number; revoked: number };
  /** Unrevoked certificates that are still valid but expire before the given time. */
  expiringSoon: number;
  pendingRequests: number;
  /** Push jobs by outcome; `failingDevices` counts devices whose latest push failed. */
  pushes: { succeeded: number; failed: number; active: number; failingDevices: number };
}

/** Read-only figures over the database (no locks, no audit). */
export interface FleetStore {
  /**
   * The latest unrevoked, unexpired certificate of every application, group and type (an older
   * one that a renewal replaced is not current any more).
   */
  currentCertificates(nowMs: number): Promise<CurrentCertificate[]>;
  counts(nowMs: number, expiringBeforeMs: number): Promise<FleetCounts>;
  /** CRL state of every CA that has one. */
  crls(): Promise<Array<{ groupName: string; certificateTypeName: string } & CrlState>>;
}
