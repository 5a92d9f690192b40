import type { PushJobRecord, PushJobState, TrustListLists } from "../domain/push";
import type { AuditEntry } from "./ports";

/** How the GDS pushes to one application; an application without a row uses the defaults. */
export interface PushSettings {
  applicationId: string;
  /** Endpoint to push to; null: the application's first DiscoveryUrl. */
  endpointUrl: string | null;
  userName: string | null;
  /** The password, sealed (SecretSealer): the database alone never reveals it. */
  sealedPassword: string | null;
  /** X509 user token: the certificate (DER) and its private key (PKCS#8 PEM), sealed. */
  userCertificateDer: Buffer | null;
  sealedUserPrivateKey: string | null;
  /** SHA-1 thumbprint of the device certificate an operator has seen and trusts (first contact). */
  pinnedThumbprint: string | null;
  /** Certificates an operator trusted on the device (`push rejected --trust`), kept in every trust list pushed to it. */
  extraTrustedCertificates: Buffer[];
  /** Weekdays and time ranges in which the scheduler may start pushes (domain/maintenance-window); null: any time. */
  maintenanceWindow: string | null;
  /** IANA time zone of the window; null: UTC. */
  maintenanceTimeZone: string | null;
  /** The scheduler renews the device's certificate by itself when it comes due (default true). */
  autoRenew: boolean;
  updatedAtMs: number;
}

/** What may change in push settings (absent fields keep their value). */
export type PushSettingsChange = Partial<Omit<PushSettings, "applicationId" | "updatedAtMs">>;

/** Persistence of push settings; each change one transaction with its audit record. */
export interface PushSettingsStore {
  get(applicationId: string): Promise<PushSettings | null>;
  /** Creates or changes the settings of an application. */
  change(applicationId: string, change: PushSettingsChange, nowMs: number, audit: AuditEntry): Promise<PushSettings>;
}

/** Which jobs a listing wants. */
export interface PushJobFilter {
  applicationId?: string;
  states?: PushJobState[];
  limit?: number;
}

/** Persistence of push jobs: the queue that survives a crash. */
export interface PushJobStore {
  /**
   * Inserts `job` (queued); when the application already has a queued or running job, inserts
   * nothing and returns that one (created false): one active job per device, enforced by the
   * database, also between instances.
   */
  enqueue(job: PushJobRecord, audit: AuditEntry): Promise<{ job: PushJobRecord; created: boolean }>;
  /**
   * Takes one job among `jobIds` that is due (queued with its attempt time reached, or running
   * under an expired lease: its owner died) for `owner` until `leaseExpiresAtMs`, counting an
   * attempt. Two instances never take the same job (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite:
   * one statement under the database's write lock).
   */
  claim(jobIds: string[], owner: string, nowMs: number, leaseExpiresAtMs: number): Promise<PushJobRecord | null>;
  /**
   * Saves a change of a job `owner` holds (or, with owner null, of an unclaimed job), with an audit
   * record when given; false when the job is no longer held by `owner` (its lease was taken over).
   * A change to `succeeded` also records, in the same transaction, what the server now holds
   * (the trust list and certificate the job verified: PushedStateStore).
   */
  update(jobId: string, owner: string | null, change: Partial<PushJobRecord>, nowMs: number, audit?: AuditEntry): Promise<boolean>;
  get(jobId: string): Promise<PushJobRecord | null>;
  /** Jobs, newest first. */
  list(filter: PushJobFilter): Promise<PushJobRecord[]>;
  /**
   * Marks the queued jobs `jobIds` as still wanted by the run that created them (their updated
   * time), so that no job runner takes them over while that run lives (see `due`).
   */
  keepAlive(jobIds: string[], nowMs: number): Promise<void>;
  /**
   * Jobs a job runner may claim now, earliest due first: queued and due, or running under an
   * expired lease. Queued jobs created by someone other than `ownCreator`, and not handed to the
   * running GDS (queuedJobCreator), only once their run has not touched them for `takeoverAfterMs`
   * (a living run keeps its waiting jobs alive); running ones once their lease has been expired that long.
   */
  due(nowMs: number, ownCreator: string, takeoverAfterMs: number, limit: number): Promise<PushJobRecord[]>;
  /**
   * Applications whose certificate the GDS has delivered by push (a succeeded cert or all job) and
   * whose automatic renewal is not switched off: the push-managed devices.
   */
  pushManagedApplications(): Promise<string[]>;
}

/** How the GDS logs in on a device. */
export type DeviceIdentity =
  | { type: "anonymous" }
  | { type: "userName"; userName: string; password: string }
  | { type: "certificate"; certificateDer: Buffer; privateKeyPem: string };

/** Where and as whom to connect. */
export interface DeviceTarget {
  endpointUrl: string;
  identity: DeviceIdentity;
  /** Longest wait for one answer of the device. */
  timeoutMs: number;
}

/** What a device's ServerConfiguration says about itself (OPC 10000-12 §7.10.4). */
export interface DeviceCapabilities {
  /** SupportedPrivateKeyFormats, e.g. ["PEM", "PFX"]; empty when the device takes no private keys. */
  supportedPrivateKeyFormats: string[];
  /** MaxTrustListSize in bytes; 0: no limit. */
  maxTrustListSize: number;
  /** Numeric ids (ns=0) of the DefaultApplicationGroup's CertificateTypes; empty when the device does not say. */
  certificateTypeIds: number[];
}

/** A SignAndEncrypt session on a device's ServerConfiguration (implemented in push/). */
export interface DeviceSession {
  /** The application certificate the device's endpoint presented (leaf, DER). */
  readonly serverCertificate: Buffer;
  capabilities(): Promise<DeviceCapabilities>;
  /**
   * Replaces the DefaultApplicationGroup's trust list: Open (Write + EraseExisting), Write in
   * chunks the device accepts, CloseAndUpdate; Close when anything fails, so that no file
   * transaction stays open on the device.
   */
  writeTrustList(content: TrustListLists): Promise<{ applyChangesRequired: boolean }>;
  readTrustList(): Promise<TrustListLists>;
  /** CreateSigningRequest of the DefaultApplicationGroup. */
  createSigningRequest(certificateTypeId: number, regeneratePrivateKey: boolean, nonce: Buffer): Promise<Buffer>;
  /** UpdateCertificate of the DefaultApplicationGroup; privateKeyFormat "" without a key. */
  updateCertificate(certificateTypeId: number, certificate: Buffer, issuerCertificates: Buffer[], privateKeyFormat: string, privateKey: Buffer | null): Promise<{ applyChangesRequired: boolean }>;
  /** ApplyChanges; the device dropping the connection right after it is the expected outcome. */
  applyChanges(): Promise<void>;
  /** CancelChanges (1.05, optional): drops what this session staged; never throws (closing the session drops it too). */
  cancelChanges(): Promise<void>;
  getRejectedList(): Promise<Buffer[]>;
  /** TrustList.AddCertificate on the DefaultApplicationGroup. */
  addCertificate(certificateDer: Buffer, isTrustedCertificate: boolean): Promise<void>;
  close(): Promise<void>;
}

/** Opens sessions on devices (implemented in push/ over node-opcua). */
export interface DeviceConnector {
  /** The application certificate a device's endpoint presents (GetEndpoints on a None channel, no session). */
  presentedCertificate(endpointUrl: string, timeoutMs: number): Promise<Buffer>;
  /**
   * Opens a SignAndEncrypt session with the GDS's own application certificate, after `accept`
   * approved the certificate the device presents (it throws a PushFailure when it does not).
   */
  open(target: DeviceTarget, accept: (certificateDer: Buffer) => Promise<void>): Promise<DeviceSession>;
}
