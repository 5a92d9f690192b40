import { randomUUID } from "node:crypto";
import { isIP } from "node:net";
import type { ApplicationRecord } from "../domain/application";
import { formatApplicationId } from "../domain/application-id";
import {
  CERTIFICATE_GROUPS,
  DEFAULT_APPLICATION_GROUP,
  groupByName,
  groupByNodeNumericId,
  typeOfGroup,
  type CertificateGroupSpec,
  type CertificateTypeSpec,
} from "../domain/certificate-groups";
import { checkDecidable, finishDecision, type CertificateRequestRecord, type RequestState } from "../domain/certificate-request";
import type { Clock } from "../domain/clock";
import { DEFAULT_CSR_POLICY, checkCertificateRequest, hostsOfDiscoveryUrls, type CertificateHostNames, type CsrPolicy } from "../domain/csr-policy";
import { GdsError, invalidArgument } from "../domain/errors";
import { compileLikePattern } from "../domain/like-pattern";
import { rsaKeyBitsOf } from "../domain/certificate-summary";
import { DEFAULT_RENEWAL_POLICY, renewalReason, renewalTimeMs, type RenewalPolicy, type RenewalReason } from "../domain/renewal";
import { normalizeSubjectName } from "../domain/subject-name";
import type {
  ApplicationStore,
  CertificateAuthorityPort,
  CertificateStore,
  CrlSigner,
  CrlState,
  IssuedCertificateRow,
  ParsedCsrWithKey,
  PublicKeyInput,
  SecretSealer,
  StoredRequest,
} from "./ports";

const noSuchApplication = (applicationId: string) => new GdsError("NotFound", `no application with id ${formatApplicationId(applicationId)}`);

/** Per-group issuance policy. */
export interface GroupPolicy {
  /** `auto`: requests from trusted requesters are issued at once; `manual`: every request waits. */
  approval: "auto" | "manual";
  lifetimeDays: number;
}

/** The policy of the certificate service; defaults in DEFAULT_CERTIFICATE_POLICY. */
export interface CertificatePolicy {
  groups: Record<string, GroupPolicy>;
  backdateSeconds: number;
  newKeyPairBits: number;
  csr: CsrPolicy;
  crlLifetimeMs: number;
  /** A CRL is re-signed once less than this is left before its nextUpdate. */
  crlRefreshBeforeMs: number;
  /** When a group's certificates are due for renewal; a group not named here uses DEFAULT_RENEWAL_POLICY. */
  renewal: Record<string, RenewalPolicy>;
}

const DAY_MS = 86400_000;

export const DEFAULT_CERTIFICATE_POLICY: CertificatePolicy = {
  groups: Object.fromEntries(CERTIFICATE_GROUPS.map((g) => [g.name, { approval: "auto", lifetimeDays: 365 }])),
  backdateSeconds: 3600,
  newKeyPairBits: 2048,
  csr: DEFAULT_CSR_POLICY,
  crlLifetimeMs: 30 * DAY_MS,
  crlRefreshBeforeMs: 15 * DAY_MS,
  renewal: {},
};

/** Who asks for a certificate, as the OPC UA layer established it. */
export interface Requester {
  actor: string;
  /** Thumbprint of the client certificate of the session, if any. */
  thumbprint: string | null;
  /** A CertificateAuthorityAdmin, or an application renewing its own certificate: issued at once under `auto`. */
  trusted: boolean;
  /** A CertificateAuthorityAdmin: may collect any request. */
  admin: boolean;
  /** The application itself (ApplicationSelfAdmin). */
  self: boolean;
}

/** What FinishRequest delivers. */
export interface FinishedRequest {
  certificate: Buffer;
  privateKey: Buffer | null;
  issuerCertificates: Buffer[];
}

/** The content of a group's trust list (DER). */
export interface TrustListContent {
  trustedCertificates: Buffer[];
  trustedCrls: Buffer[];
  issuerCertificates: Buffer[];
  issuerCrls: Buffer[];
}

/** Revocation status of a certificate as CheckRevocationStatus reports it. */
export interface RevocationStatus {
  status: "Good" | "Revoked" | "Untrusted" | "TimeInvalid";
  /** Until when the answer holds (the CRL's nextUpdate). */
  validUntilMs: number;
}

const PRIVATE_KEY_FORMATS = ["PFX", "PEM"] as const;

/** What a Start call already read and checked, handed on when the request is issued at once. */
interface KnownAtStart {
  app: ApplicationRecord;
  csr?: ParsedCsrWithKey;
  /** The names checkCertificateRequest allowed for `csr` and `app` in the same call. */
  names?: CertificateHostNames;
  publicKey?: CryptoKey;
}

/** The CA a CRL belongs to, as CRL listeners are told. */
export interface CrlIssuer {
  caCertificateDer: Buffer;
  caSerialHex: string;
  /** True for a CA a rollover superseded (not retired yet). */
  superseded: boolean;
}

/** A listener told when a CA's CRL changed (the server's own trust store follows it). */
export type CrlListener = (group: string, type: string, crl: CrlState, issuer: CrlIssuer) => void | Promise<void>;

/**
 * Pull certificate management of OPC 10000-12 §7.9: requests, approval, issuance, delivery,
 * revocation and CRLs, for every certificate group. Access control happens before these calls.
 */
export class CertificateService {
  private readonly crlListeners: CrlListener[] = [];

  constructor(
    private readonly applications: ApplicationStore,
    private readonly store: CertificateStore,
    private readonly authorities: CertificateAuthorityPort,
    private readonly secrets: SecretSealer,
    private readonly clock: Clock,
    private readonly policy: CertificatePolicy = DEFAULT_CERTIFICATE_POLICY,
  ) {}

  /** Registers a listener for CRL changes. */
  onCrlChanged(listener: CrlListener): void {
    this.crlListeners.push(listener);
  }

  private async application(applicationId: string): Promise<ApplicationRecord> {
    const app = await this.applications.get(applicationId);
    if (!app) throw noSuchApplication(applicationId);
    return app;
  }

  private groupPolicy(group: CertificateGroupSpec): GroupPolicy {
    return this.policy.groups[group.name] ?? { approval: "manual", lifetimeDays: 365 };
  }

  /** StartSigningRequest: checks the CSR and records the request; issues at once when policy allows. */
  async startSigningRequest(requester: Requester, applicationId: string, groupId: number | null, typeId: number | null, csrDer: Buffer): Promise<string> {
    const app = await this.application(applicationId);
    const group = groupByNodeNumericId(groupId);
    const type = typeOfGroup(group, typeId);
    if (!Buffer.isBuffer(csrDer) || csrDer.length === 0) throw invalidArgument("CertificateRequest is empty");
    if (csrDer.length > 64 * 1024) throw invalidArgument("CertificateRequest is larger than 64 KiB");
    const csr = await this.authorities.parseCsr(csrDer);
    const names = checkCertificateRequest(csr, app, this.policy.csr);
    const request: StoredRequest = {
      ...this.newRequest(requester, applicationId, group, type, "SigningRequest"),
      subjectName: csr.subject || null,
      domainNames: [...names.dnsNames, ...names.ipAddresses],
      csrDer,
      privateKeyFormat: null,
      sealedPrivateKey: null,
      sealedKeyPassword: null,
    };
    await this.store.insertRequest(request, this.requestAudit(requester, "StartSigningRequest", app, request));
    await this.autoApprove(requester, group, request, { app, csr, names });
    return request.requestId;
  }

  /** StartNewKeyPairRequest: the GDS generates the key pair; the key waits, sealed, for FinishRequest. */
  async startNewKeyPairRequest(
    requester: Requester,
    applicationId: string,
    groupId: number | null,
    typeId: number | null,
    subjectName: string,
    domainNames: string[],
    privateKeyFormat: string,
    privateKeyPassword: string,
  ): Promise<string> {
    const app = await this.application(applicationId);
    const group = groupByNodeNumericId(groupId);
    const type = typeOfGroup(group, typeId);
    const format = PRIVATE_KEY_FORMATS.find((f) => f === (privateKeyFormat || "PFX").toUpperCase());
    if (!format) throw invalidArgument(`PrivateKeyFormat "${privateKeyFormat.slice(0, 16)}" is not PFX or PEM`);
    if (privateKeyPassword.length > 1024) throw invalidArgument("PrivateKeyPassword is longer than 1024 characters");
    const subject = normalizeSubjectName(subjectName || `CN=${app.applicationNames[0]?.text ?? "application"}`);
    const defaults = hostsOfDiscoveryUrls(app.discoveryUrls);
    const names = domainNames.length ? domainNames : [...defaults.dnsNames, ...defaults.ipAddresses];
    if (names.length > 32 || names.some((n) => typeof n !== "string" || n.length === 0 || n.length > 255 || /[\s\u0000-\u001f]/.test(n))) {
      throw invalidArgument("DomainNames must be at most 32 host names or IP addresses");
    }
    const keys = await this.authorities.generateKeyPair(this.policy.newKeyPairBits);
    const request: StoredRequest = {
      ...this.newRequest(requester, applicationId, group, type, "NewKeyPair"),
      subjectName: subject,
      domainNames: names,
      csrDer: null,
      privateKeyFormat: format,
      sealedPrivateKey: this.secrets.seal(keys.privateKeyPkcs8),
      sealedKeyPassword: privateKeyPassword ? this.secrets.seal(privateKeyPassword) : null,
    };
    await this.store.insertRequest(request, this.requestAudit(requester, "StartNewKeyPairRequest", app, request));
    await this.autoApprove(requester, group, request, { app, publicKey: keys.publicKey });
    return request.requestId;
  }

  private newRequest(requester: Requester, applicationId: string, group: CertificateGroupSpec, type: CertificateTypeSpec, kind: StoredRequest["kind"]) {
    return {
      requestId: randomUUID(),
      applicationId,
      groupName: group.name,
      certificateTypeName: type.name,
      kind,
      state: "New" as RequestState,
      requestedBy: requester.actor,
      requesterThumbprint: requester.thumbprint,
      createdAtMs: this.clock.nowMs(),
      decidedBy: null,
      decidedAtMs: null,
      rejectReason: null,
      serialHex: null,
    };
  }

  private requestAudit(requester: Requester, action: string, app: ApplicationRecord, request: StoredRequest) {
    return {
      actor: requester.actor,
      action,
      subject: `${formatApplicationId(app.applicationId)} ${app.applicationUri}`,
      outcome: "Good",
      details: `request=${request.requestId} group=${request.groupName} type=${request.certificateTypeName}`,
    };
  }

  private async autoApprove(requester: Requester, group: CertificateGroupSpec, request: StoredRequest, known: KnownAtStart): Promise<void> {
    if (requester.trusted && this.groupPolicy(group).approval === "auto") await this.issue(request.requestId, `auto (${requester.actor})`, { request, ...known });
  }

  /** Approves a New request and issues its certificate. */
  async approveRequest(actor: string, requestId: string): Promise<IssuedCertificateRow> {
    return this.issue(requestId, actor);
  }

  /**
   * Issues the certificate of a New request. Reading and signing happen before the transaction, so
   * that it stays short (SQLite runs one at a time; a PostgreSQL transaction that waited for a
   * second pooled connection could starve the pool); the transaction checks the state and writes.
   */
  private async issue(requestId: string, decidedBy: string, known?: KnownAtStart & { request: StoredRequest }): Promise<IssuedCertificateRow> {
    // Issued at once, the request, its application and its key were just read and checked: reuse them.
    const request = known?.request ?? (await this.store.getRequest(requestId));
    if (!request) throw new GdsError("NotFound", `no certificate request ${requestId}`);
    checkDecidable(request);
    const app = known?.app ?? (await this.application(request.applicationId));
    // A rollover made by another process (`ca renew` while the server runs) takes effect at once.
    await this.followAuthorities();
    const signer = this.authorities.signer(request.groupName, request.certificateTypeName);
    const lifetimeDays = this.groupPolicy(groupByName(request.groupName)).lifetimeDays;
    let publicKey: PublicKeyInput;
    let subject: string;
    let dnsNames: string[];
    let ipAddresses: string[];
    if (request.kind === "SigningRequest") {
      const csr = known?.csr ?? (await this.authorities.parseCsr(request.csrDer!));
      // Checked again unless just checked: the application record may have changed while the request waited.
      ({ dnsNames, ipAddresses } = (known?.csr && known.names) || checkCertificateRequest(csr, app, this.policy.csr));
      publicKey = csr.publicKey;
      subject = csr.subject || `CN=${app.applicationNames[0]?.text ?? "application"}`;
    } else {
      publicKey = known?.publicKey ?? (await this.publicKeyOfSealed(request));
      subject = request.subjectName!;
      ipAddresses = request.domainNames.filter((n) => isIP(n) !== 0);
      dnsNames = request.domainNames.filter((n) => isIP(n) === 0);
    }
    const issued = await signer.issue(publicKey, { subject, applicationUri: app.applicationUri, dnsNames, ipAddresses, lifetimeDays, backdateSeconds: this.policy.backdateSeconds });
    const row: IssuedCertificateRow = {
      serialHex: issued.serialHex,
      thumbprint: this.authorities.thumbprint(issued.der),
      applicationId: app.applicationId,
      applicationUri: app.applicationUri,
      groupName: request.groupName,
      certificateTypeName: request.certificateTypeName,
      issuerSerialHex: signer.caSerialHex,
      requestId,
      notBeforeMs: issued.notBeforeMs,
      notAfterMs: issued.notAfterMs,
      renewalAtMs: renewalTimeMs(issued.notBeforeMs, issued.notAfterMs, this.policy.renewal[request.groupName] ?? DEFAULT_RENEWAL_POLICY, issued.serialHex),
      revokedAtMs: null,
      revocationReason: null,
      der: issued.der,
    };
    return this.store.approveAndIssue(
      requestId,
      decidedBy,
      this.clock.nowMs(),
      row,
      { actor: decidedBy, action: "CertificateIssued", subject: `${formatApplicationId(app.applicationId)} ${app.applicationUri}`, outcome: "Good", details: `request=${requestId}` },
    );
  }

  private async publicKeyOfSealed(request: StoredRequest): Promise<CryptoKey> {
    if (!request.sealedPrivateKey) throw new GdsError("Conflict", `request ${request.requestId} has no key material left`);
    return this.authorities.publicKeyOf(this.secrets.open(request.sealedPrivateKey));
  }

  /**
   * Approves every New request of one application, or of every application whose ApplicationUri
   * matches a Like pattern; one failure does not stop the others. Returns what happened to each.
   */
  async approvePending(actor: string, filter: { applicationId?: string; uriPattern?: string }): Promise<Array<{ requestId: string; applicationUri: string; serialHex?: string; error?: string }>> {
    const pattern = filter.uriPattern ? compileLikePattern(filter.uriPattern) : null;
    const pending = await this.store.listRequests({ state: "New", applicationId: filter.applicationId });
    const results: Array<{ requestId: string; applicationUri: string; serialHex?: string; error?: string }> = [];
    for (const request of pending) {
      const app = await this.applications.get(request.applicationId);
      const applicationUri = app?.applicationUri ?? "(unregistered)";
      if (pattern && !pattern.test(applicationUri)) continue;
      try {
        const row = await this.issue(request.requestId, actor);
        results.push({ requestId: request.requestId, applicationUri, serialHex: row.serialHex });
      } catch (e) {
        results.push({ requestId: request.requestId, applicationUri, error: (e as Error).message });
      }
    }
    return results;
  }

  /** Issued certificates, newest first, optionally only those expiring before a time. */
  async listCertificates(filter: { applicationId?: string; expiringBeforeMs?: number } = {}): Promise<IssuedCertificateRow[]> {
    return this.store.listCertificates(filter);
  }

  /** Rejects a New request. */
  async rejectRequest(actor: string, requestId: string, reason: string | null): Promise<void> {
    await this.store.reject(requestId, actor, reason, this.clock.nowMs(), { actor, action: "RejectRequest", subject: requestId, outcome: "Good", details: reason ?? undefined });
  }

  /** Requests, optionally only those in one state or of one application. */
  async listRequests(filter: { state?: RequestState; applicationId?: string } = {}): Promise<CertificateRequestRecord[]> {
    return this.store.listRequests(filter);
  }

  async getRequest(requestId: string): Promise<CertificateRequestRecord> {
    const r = await this.store.getRequest(requestId);
    if (!r) throw new GdsError("NotFound", `no certificate request ${requestId}`);
    return r;
  }

  /**
   * FinishRequest: the certificate, the private key (new key pairs only) and the issuer chain of an
   * approved request; the request is Accepted afterwards (the store wipes the key's password).
   */
  async finishRequest(requester: Requester, applicationId: string, requestId: string): Promise<FinishedRequest> {
    // Only whether it exists: the record itself is not needed here (its URI is on the certificate's row).
    if (!(await this.applications.exists(applicationId))) throw noSuchApplication(applicationId);
    const found = await this.store.requestWithCertificate(requestId);
    if (!found) throw invalidArgument(`unknown RequestId ${requestId}`);
    const { request, certificate: row } = found;
    // Only an admin, the application itself, or the client certificate that asked may collect.
    if (!requester.admin && !requester.self && (request.requesterThumbprint === null || request.requesterThumbprint !== requester.thumbprint)) {
      throw new GdsError("UserAccessDenied", "only the client that made the request, the application itself or a CertificateAuthorityAdmin may finish it");
    }
    finishDecision(request, applicationId);
    if (!row) throw new GdsError("Conflict", `request ${requestId} is approved but its certificate is missing`);
    const chain = await this.issuerChain(row);
    let privateKey: Buffer | null = null;
    if (request.kind === "NewKeyPair") {
      if (!request.sealedPrivateKey) throw new GdsError("Conflict", `request ${requestId} has no key material left`);
      const password = request.sealedKeyPassword ? this.secrets.open(request.sealedKeyPassword).toString("utf8") : null;
      privateKey = await this.authorities.packagePrivateKey(request.privateKeyFormat ?? "PFX", this.secrets.open(request.sealedPrivateKey), row.der, chain, password);
    }
    await this.store.markAccepted(requestId, {
      actor: requester.actor,
      action: "CertificateDelivered",
      subject: `${formatApplicationId(applicationId)} ${row.applicationUri}`,
      outcome: "Good",
      details: `request=${requestId} serial=${row.serialHex}`,
    });
    return { certificate: row.der, privateKey, issuerCertificates: chain };
  }

  /**
   * The issuer chain of an issued certificate: the CA that signed it (the current one, or one a
   * rollover superseded since) and that CA's parents.
   */
  private async issuerChain(row: IssuedCertificateRow): Promise<Buffer[]> {
    await this.followAuthorities();
    const signer = this.authorities.signerBySerial(row.groupName, row.certificateTypeName, row.issuerSerialHex) ?? this.authorities.signer(row.groupName, row.certificateTypeName);
    return [signer.caCertificateDer, ...signer.chainDer];
  }

  /** GetCertificateGroups: the groups an application can get certificates from. */
  async getCertificateGroups(applicationId: string): Promise<CertificateGroupSpec[]> {
    const app = await this.application(applicationId);
    const https = app.discoveryUrls.some((u) => /^(https|opc\.https):/i.test(u));
    return CERTIFICATE_GROUPS.filter((g) => g === DEFAULT_APPLICATION_GROUP || (https && g.name === "DefaultHttpsGroup"));
  }

  /** GetTrustList: the group whose trust list the application may read. */
  async getTrustListGroup(applicationId: string, groupId: number | null): Promise<CertificateGroupSpec> {
    await this.application(applicationId);
    return groupByNodeNumericId(groupId);
  }

  private currentCertificates(rows: IssuedCertificateRow[], now: number): IssuedCertificateRow[] {
    const latest = new Map<string, IssuedCertificateRow>();
    for (const r of rows) {
      if (r.revokedAtMs !== null || r.notAfterMs <= now) continue;
      const key = `${r.groupName}/${r.certificateTypeName}`;
      const prev = latest.get(key);
      if (!prev || r.notBeforeMs >= prev.notBeforeMs) latest.set(key, r);
    }
    return [...latest.values()];
  }

  /**
   * GetCertificateStatus: true when the application should get a new certificate: it has none that
   * is valid, its newest was revoked, its renewal time has come, the CA that signed it is not the
   * current one, or its key is smaller than the key policy now asks.
   */
  async getCertificateStatus(applicationId: string, groupId: number | null, typeId: number | null): Promise<boolean> {
    await this.application(applicationId);
    const group = groupByNodeNumericId(groupId);
    return (await this.renewalReasonOf(applicationId, group.name, typeOfGroup(group, typeId).name)) !== null;
  }

  /**
   * Which of `among` may need a new certificate of the group and type now, found with one query
   * (renewal planning over the whole table); renewalReasonOf confirms each. A key policy above the
   * smallest key the GDS ever accepts can make any certificate due: then all of `among` are.
   */
  async renewalCandidates(groupName: string, typeName: string, among: string[]): Promise<string[]> {
    if ((this.policy.csr.minRsaBits ?? DEFAULT_CSR_POLICY.minRsaBits) > DEFAULT_CSR_POLICY.minRsaBits) return among;
    const due = new Set(await this.store.dueForRenewal(groupName, typeName, this.authorities.signer(groupName, typeName).caSerialHex, this.clock.nowMs()));
    return among.filter((id) => due.has(id));
  }

  /** Why the application needs a new certificate of this group and type now (renewalReason); null when it does not. */
  async renewalReasonOf(applicationId: string, groupName: string, typeName: string): Promise<RenewalReason | null> {
    const now = this.clock.nowMs();
    await this.followAuthorities();
    let newest: IssuedCertificateRow | null = null;
    for (const r of await this.store.certificatesOf(applicationId)) {
      if (r.groupName !== groupName || r.certificateTypeName !== typeName || r.notAfterMs <= now) continue;
      if (!newest || r.notBeforeMs > newest.notBeforeMs || (r.notBeforeMs === newest.notBeforeMs && newest.revokedAtMs !== null)) newest = r;
    }
    return renewalReason({
      newest: newest && { renewalAtMs: newest.renewalAtMs, revoked: newest.revokedAtMs !== null, issuerSerialHex: newest.issuerSerialHex, rsaKeyBits: rsaKeyBitsOf(newest.der) },
      nowMs: now,
      currentCaSerialHex: this.authorities.signer(groupName, typeName).caSerialHex,
      minKeyBits: this.policy.csr.minRsaBits ?? DEFAULT_CSR_POLICY.minRsaBits,
    });
  }

  /** GetCertificates: the application's current certificate per type, in one group or all. */
  async getCertificates(applicationId: string, groupId: number | null): Promise<Array<{ type: CertificateTypeSpec; certificate: Buffer }>> {
    await this.application(applicationId);
    const groups = groupId === null ? CERTIFICATE_GROUPS : [groupByNodeNumericId(groupId)];
    const current = this.currentCertificates(await this.store.certificatesOf(applicationId), this.clock.nowMs());
    return current
      .filter((r) => groups.some((g) => g.name === r.groupName))
      .map((r) => ({ type: typeOfGroup(groupByName(r.groupName), null), certificate: r.der }));
  }

  /** Signs CRLs with the key of CA `caSerialHex` (a superseded one), or of the current CA. */
  crlSigner(group: string, type: string, caSerialHex: string | null = null): CrlSigner {
    return async (revoked, crlNumber) => {
      const now = this.clock.nowMs();
      const next = now + this.policy.crlLifetimeMs;
      const signer = (caSerialHex && this.authorities.signerBySerial(group, type, caSerialHex)) || this.authorities.signer(group, type);
      const der = await signer.signCrl(
        revoked.map((r) => ({ serialHex: r.serialHex, revokedAtMs: r.revokedAtMs! })),
        crlNumber,
        now,
        next,
      );
      return { crlNumber, crlDer: der, thisUpdateMs: now, nextUpdateMs: next };
    };
  }

  /**
   * Picks up a CA change made by another process (`ca renew`, a retirement) and, when there was
   * one, tells the CRL listeners at once, so that the server trusts a new CA before it hands out
   * the first certificate of it.
   */
  async followAuthorities(options: { fresh?: boolean } = {}): Promise<void> {
    // Calls in flight share one look at the CA folders (every issuance makes one): under load that
    // is one round of stat calls per burst instead of one per call (they were 8 % of the main
    // thread's time when issuing). A caller that has just changed the folders itself asks for a
    // look of its own.
    if (options.fresh) return this.lookAtAuthorities();
    this.following ??= this.lookAtAuthorities().finally(() => (this.following = null));
    return this.following;
  }

  private following: Promise<void> | null = null;

  private async lookAtAuthorities(): Promise<void> {
    if (await this.authorities.refresh()) await this.publishAllCrls();
  }

  /** Tells the CRL listeners the CRLs of every CA (current and superseded) of the groups and types named. */
  private async publishCrls(rows: Array<{ groupName: string; certificateTypeName: string }>): Promise<void> {
    const seen = new Set<string>();
    for (const r of rows) {
      const key = `${r.groupName}/${r.certificateTypeName}`;
      if (seen.has(key)) continue;
      seen.add(key);
      for (const { issuer, crl } of await this.crlsOf(r.groupName, r.certificateTypeName)) {
        for (const l of this.crlListeners) await l(r.groupName, r.certificateTypeName, crl, issuer);
      }
    }
  }

  /** Every CA of a group and type that has a CRL, with it: the current CA first, then the superseded ones. */
  private async crlsOf(group: string, type: string): Promise<Array<{ issuer: CrlIssuer; crl: CrlState }>> {
    const current = this.authorities.signer(group, type);
    const result: Array<{ issuer: CrlIssuer; crl: CrlState }> = [];
    const crl = await this.store.crlState(group, type);
    if (crl) result.push({ issuer: { caCertificateDer: current.caCertificateDer, caSerialHex: current.caSerialHex, superseded: false }, crl });
    const previous = await this.store.previousCrls(group, type);
    for (const signer of this.authorities.previousSigners(group, type)) {
      const own = previous.find((p) => p.caSerialHex === signer.caSerialHex);
      if (own) result.push({ issuer: { caCertificateDer: signer.caCertificateDer, caSerialHex: signer.caSerialHex, superseded: true }, crl: own });
    }
    return result;
  }

  /** RevokeCertificate: revokes a certificate issued to this application; a new CRL is signed at once. */
  async revokeCertificate(actor: string, applicationId: string, certificateDer: Buffer, reason = "RevokeCertificate"): Promise<IssuedCertificateRow> {
    await this.application(applicationId);
    const row = await this.store.certificateByThumbprint(this.authorities.thumbprint(certificateDer));
    if (!row || row.applicationId !== applicationId) throw new GdsError("NotFound", "the certificate was not issued to this application by this GDS");
    if (row.revokedAtMs !== null) return row;
    const [revoked] = await this.revokeSerials(actor, [row.serialHex], reason);
    return revoked;
  }

  /** Revokes certificates by serial (CLI) and publishes the new CRLs. */
  async revokeSerials(actor: string, serials: string[], reason: string): Promise<IssuedCertificateRow[]> {
    await this.followAuthorities();
    const revoked = await this.store.revoke(serials, reason, this.clock.nowMs(), (g, t, issuer) => this.crlSigner(g, t, issuer), {
      actor,
      action: "CertificateRevoked",
      subject: serials.join(",").slice(0, 1000),
      outcome: "Good",
      details: reason,
    });
    await this.publishCrls(revoked);
    return revoked;
  }

  /** Revokes every unrevoked certificate of an application (unregistration, `cert revoke --app`). */
  async revokeApplication(actor: string, applicationId: string, reason: string): Promise<IssuedCertificateRow[]> {
    const rows = (await this.store.certificatesOf(applicationId)).filter((r) => r.revokedAtMs === null);
    if (rows.length === 0) return [];
    return this.revokeSerials(actor, rows.map((r) => r.serialHex), reason);
  }

  /** CheckRevocationStatus: whether a certificate issued by this GDS may be trusted now. */
  async checkRevocationStatus(certificateDer: Buffer): Promise<RevocationStatus> {
    const now = this.clock.nowMs();
    const row = await this.store.certificateByThumbprint(this.authorities.thumbprint(certificateDer));
    if (!row) return { status: "Untrusted", validUntilMs: now };
    const crl = await this.store.crlState(row.groupName, row.certificateTypeName);
    const validUntilMs = crl?.nextUpdateMs ?? now;
    if (row.revokedAtMs !== null) return { status: "Revoked", validUntilMs };
    if (now < row.notBeforeMs || now > row.notAfterMs) return { status: "TimeInvalid", validUntilMs };
    return { status: "Good", validUntilMs: Math.min(validUntilMs, row.notAfterMs) };
  }

  /** The application whose unrevoked, unexpired GDS-issued certificate has this thumbprint (ApplicationSelfAdmin). */
  async applicationOfCertificate(thumbprint: string): Promise<string | null> {
    return (await this.certificateStanding(thumbprint)).applicationId;
  }

  /**
   * Whether this GDS issued the certificate with this thumbprint at all, and the application it
   * may act for now (null once revoked or outside its validity): applicationOfCertificate in full.
   */
  async certificateStanding(thumbprint: string): Promise<{ issuedHere: boolean; applicationId: string | null }> {
    const row = await this.store.certificateByThumbprint(thumbprint);
    if (!row) return { issuedHere: false, applicationId: null };
    const now = this.clock.nowMs();
    const valid = row.revokedAtMs === null && now <= row.notAfterMs && now >= row.notBeforeMs;
    return { issuedHere: true, applicationId: valid ? row.applicationId : null };
  }

  /**
   * The trust list of a group: its CA certificates (trusted) with their current CRLs, and the
   * parents of a subordinate CA (issuers). During a rollover it holds the new CA and every CA it
   * superseded that has not retired, each with its own CRL.
   */
  async trustListContent(group: CertificateGroupSpec): Promise<TrustListContent> {
    await this.followAuthorities();
    const trustedCertificates: Buffer[] = [];
    const trustedCrls: Buffer[] = [];
    const issuerCertificates: Buffer[] = [];
    for (const type of group.certificateTypes) {
      for (const signer of [this.authorities.signer(group.name, type.name), ...this.authorities.previousSigners(group.name, type.name)]) {
        trustedCertificates.push(signer.caCertificateDer);
        for (const parent of signer.chainDer) if (!issuerCertificates.some((c) => c.equals(parent))) issuerCertificates.push(parent);
      }
      trustedCrls.push(...(await this.crlsOf(group.name, type.name)).map((c) => c.crl.crlDer));
    }
    return { trustedCertificates, trustedCrls, issuerCertificates, issuerCrls: [] };
  }

  /**
   * Signs a CRL for every CA that has none, or whose CRL gets close to its nextUpdate, even when
   * nothing was revoked, so that relying parties never hold an expired CRL. Returns how many.
   */
  async refreshCrls(actor = "scheduler"): Promise<number> {
    let count = 0;
    const now = this.clock.nowMs();
    await this.followAuthorities();
    for (const group of CERTIFICATE_GROUPS) {
      for (const type of group.certificateTypes) {
        const due = async (crl: CrlState | null | undefined, signer: { signedCrl(der: Buffer): Promise<boolean> }) =>
          // A CRL signed by a replaced CA key (ca install/import, ca renew) is re-signed at once.
          !crl || crl.nextUpdateMs - now <= this.policy.crlRefreshBeforeMs || !(await signer.signedCrl(crl.crlDer));
        const targets: Array<string | null> = [];
        if (await due(await this.store.crlState(group.name, type.name), this.authorities.signer(group.name, type.name))) targets.push(null);
        const previous = await this.store.previousCrls(group.name, type.name);
        for (const signer of this.authorities.previousSigners(group.name, type.name)) {
          const crl = previous.find((p) => p.caSerialHex === signer.caSerialHex);
          // A superseded CA without a CRL row is taken over by the rollover check, not here.
          if (crl && (await due(crl, signer))) targets.push(signer.caSerialHex);
        }
        for (const caSerialHex of targets) {
          await this.store.resignCrl(group.name, type.name, caSerialHex, now, this.crlSigner(group.name, type.name, caSerialHex), {
            actor,
            action: "CrlSigned",
            subject: `${group.name}/${type.name}${caSerialHex ? ` superseded CA ${caSerialHex}` : ""}`,
            outcome: "Good",
          });
          count++;
        }
        if (targets.length) await this.publishCrls([{ groupName: group.name, certificateTypeName: type.name }]);
      }
    }
    return count;
  }

  /** Tells the CRL listeners every current CRL (start-up: the files follow the database). */
  async publishAllCrls(): Promise<void> {
    await this.publishCrls(CERTIFICATE_GROUPS.flatMap((g) => g.certificateTypes.map((t) => ({ groupName: g.name, certificateTypeName: t.name }))));
  }

  /**
   * A token that changes whenever a CRL or a CA of the DefaultApplicationGroup changes (revocation,
   * re-signing, rollover, retirement), so that another process can tell it must publish again.
   */
  async crlVersion(): Promise<string> {
    const group = DEFAULT_APPLICATION_GROUP.name;
    const type = DEFAULT_APPLICATION_GROUP.certificateTypes[0].name;
    await this.followAuthorities();
    const current = await this.store.crlState(group, type);
    const previous = await this.store.previousCrls(group, type);
    return [this.authorities.signer(group, type).caSerialHex, current?.crlNumber ?? 0, ...previous.map((p) => `${p.caSerialHex}:${p.crlNumber}`)].join("|");
  }

  /** The current CRL of a group's default CA. */
  async currentCrl(group: CertificateGroupSpec = DEFAULT_APPLICATION_GROUP): Promise<CrlState | null> {
    return this.store.crlState(group.name, group.certificateTypes[0].name);
  }

  // ---- push (OPC 10000-12 §7.10): the GDS delivers the certificate itself --------------------

  /**
   * Issues a certificate for a push, through the same request rows, checks and signing as a pull
   * request: for the device's CSR (CreateSigningRequest), or for a key pair the GDS generates when
   * the device cannot make keys. The operator who pushes decides the request. Idempotent on
   * `requestId`, which the push job records before calling: a job resumed after a crash gets the
   * certificate issued before instead of a second one.
   */
  async issueForPush(actor: string, applicationId: string, requestId: string, key: { csrDer: Buffer } | { privateKeyFormat: "PFX" | "PEM" }): Promise<IssuedCertificateRow> {
    const decidedBy = `push (${actor})`;
    const existing = await this.store.getRequest(requestId);
    if (existing) {
      if (existing.applicationId !== applicationId) throw new GdsError("Conflict", `request ${requestId} belongs to another application`);
      if (existing.state === "New") return this.issue(requestId, decidedBy);
      const row = existing.serialHex ? await this.store.certificate(existing.serialHex) : null;
      if (!row) throw new GdsError("Conflict", `request ${requestId} is ${existing.state} without a certificate`);
      return row;
    }
    const requester: Requester = { actor: `push (${actor})`, thumbprint: null, trusted: true, admin: true, self: false };
    const app = await this.application(applicationId);
    const group = DEFAULT_APPLICATION_GROUP;
    const type = typeOfGroup(group, null);
    let request: StoredRequest;
    let known: KnownAtStart;
    if ("csrDer" in key) {
      const csr = await this.authorities.parseCsr(key.csrDer);
      const names = checkCertificateRequest(csr, app, this.policy.csr);
      request = {
        ...this.newRequest(requester, applicationId, group, type, "SigningRequest"),
        requestId,
        subjectName: csr.subject || null,
        domainNames: [...names.dnsNames, ...names.ipAddresses],
        csrDer: key.csrDer,
        privateKeyFormat: null,
        sealedPrivateKey: null,
        sealedKeyPassword: null,
      };
      known = { app, csr };
    } else {
      const names = hostsOfDiscoveryUrls(app.discoveryUrls);
      const keys = await this.authorities.generateKeyPair(this.policy.newKeyPairBits);
      request = {
        ...this.newRequest(requester, applicationId, group, type, "NewKeyPair"),
        requestId,
        subjectName: normalizeSubjectName(`CN=${app.applicationNames[0]?.text ?? "application"}`),
        domainNames: [...names.dnsNames, ...names.ipAddresses],
        csrDer: null,
        privateKeyFormat: key.privateKeyFormat,
        sealedPrivateKey: this.secrets.seal(keys.privateKeyPkcs8),
        sealedKeyPassword: null,
      };
      known = { app, publicKey: keys.publicKey };
    }
    await this.store.insertRequest(request, this.requestAudit(requester, "PushSigningRequest", app, request));
    return this.issue(requestId, decidedBy, { request, ...known });
  }

  /** The certificate already issued for a push's request, or null while none is. */
  async issuedForRequest(requestId: string): Promise<IssuedCertificateRow | null> {
    const request = await this.store.getRequest(requestId);
    return request?.serialHex ? this.store.certificate(request.serialHex) : null;
  }

  /**
   * What a push sends in UpdateCertificate for an issued push request: the certificate, the issuer
   * chain, and the generated private key (unencrypted: UpdateCertificate has no password) when the
   * GDS made the key. Leaves the request as it is, so a retried UpdateCertificate gets it again.
   */
  async pushDelivery(requestId: string): Promise<FinishedRequest & { privateKeyFormat: "PFX" | "PEM" | null }> {
    const request = await this.store.getRequest(requestId);
    const row = await this.issuedForRequest(requestId);
    if (!request || !row) throw new GdsError("NotFound", `no issued certificate for request ${requestId}`);
    const chain = await this.issuerChain(row);
    let privateKey: Buffer | null = null;
    if (request.kind === "NewKeyPair") {
      if (!request.sealedPrivateKey) throw new GdsError("Conflict", `request ${requestId} has no key material left`);
      privateKey = await this.authorities.packagePrivateKey(request.privateKeyFormat ?? "PFX", this.secrets.open(request.sealedPrivateKey), row.der, chain, null);
    }
    return { certificate: row.der, privateKey, issuerCertificates: chain, privateKeyFormat: privateKey ? (request.privateKeyFormat ?? "PFX") : null };
  }

  /** The device took the certificate of a push request: the request is Accepted and a generated key wiped. */
  async confirmPushDelivery(actor: string, requestId: string): Promise<void> {
    const request = await this.store.getRequest(requestId);
    if (!request) throw new GdsError("NotFound", `no certificate request ${requestId}`);
    if (request.state === "Accepted") return;
    await this.store.markAccepted(requestId, {
      actor: `push (${actor})`,
      action: "CertificateDelivered",
      subject: `${formatApplicationId(request.applicationId)}`,
      outcome: "Good",
      details: `request=${requestId} serial=${request.serialHex} by UpdateCertificate`,
    });
  }

  /**
   * True when `certificateDer` is, byte for byte, a certificate this GDS issued to the application
   * and it is valid now and not revoked: how a device that already holds a GDS certificate is
   * recognised on first contact.
   */
  async isCurrentCertificateOf(applicationId: string, certificateDer: Buffer): Promise<boolean> {
    const row = await this.store.certificateByThumbprint(this.authorities.thumbprint(certificateDer));
    const now = this.clock.nowMs();
    return row !== null && row.applicationId === applicationId && row.der.equals(certificateDer) && row.revokedAtMs === null && row.notBeforeMs <= now && now <= row.notAfterMs;
  }
}
