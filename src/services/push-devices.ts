import { formatApplicationId } from "../domain/application-id";
import type { ApplicationRecord } from "../domain/application";
import { DEFAULT_APPLICATION_GROUP } from "../domain/certificate-groups";
import { summarizeCertificate, type CertificateSummary } from "../domain/certificate-summary";
import type { Clock } from "../domain/clock";
import { GdsError, invalidArgument } from "../domain/errors";
import { parseMaintenanceWindow } from "../domain/maintenance-window";
import { PushFailure, decideDeviceCertificate, type TrustListLists } from "../domain/push";
import { thumbprintOf } from "../domain/thumbprint";
import type { CertificateService } from "./certificate-service";
import type { ApplicationStore, AuditEntry, SecretSealer } from "./ports";
import type { DeviceConnector, DeviceIdentity, DeviceSession, DeviceTarget, PushSettings, PushSettingsStore } from "./push-ports";

/** Fleet-wide credentials (OPCUA_GDS_PUSH_USER / OPCUA_GDS_PUSH_PASSWORD) for devices without their own. */
export interface FleetCredentials {
  userName?: string;
  password?: string;
}

/** Credentials of one device: a user name and password, an X509 user token, or none (the fleet default). */
export type PushCredentials = { userName: string; password: string } | { certificateDer: Buffer; privateKeyPem: string } | null;

/** Push settings as shown to an operator (never a secret). */
export interface PushSettingsView {
  applicationId: string;
  applicationUri: string;
  endpointUrl: string | null;
  endpointIsDefault: boolean;
  credentials: string;
  pinnedThumbprint: string | null;
  extraTrustedCertificates: string[];
  /** When the scheduler may start pushes (weekdays and times); null: any time. */
  maintenanceWindow: string | null;
  /** Time zone of the window (UTC unless set). */
  maintenanceTimeZone: string;
  /** The scheduler renews the device's certificate by itself (once the GDS has pushed one). */
  autoRenew: boolean;
}

/** The audit entry of a push change to one application. */
export function pushAudit(actor: string, action: string, app: ApplicationRecord, details?: string): AuditEntry {
  return { actor, action, subject: `${formatApplicationId(app.applicationId)} ${app.applicationUri}`, outcome: "Good", details };
}

/**
 * The devices the GDS pushes to: where each is reached, as whom, which of its certificates the GDS
 * trusts (first contact), and sessions on it. Settings changes are audited; secrets are sealed.
 */
export class PushDevices {
  constructor(
    private readonly applications: ApplicationStore,
    private readonly certificates: CertificateService,
    private readonly settings: PushSettingsStore,
    private readonly connector: () => Promise<DeviceConnector>,
    private readonly secrets: SecretSealer,
    private readonly clock: Clock,
    private readonly fleet: FleetCredentials,
  ) {}

  /** The application, or NotFound. */
  async application(applicationId: string): Promise<ApplicationRecord> {
    const app = await this.applications.get(applicationId);
    if (!app) throw new GdsError("NotFound", `no application with id ${formatApplicationId(applicationId)}`);
    return app;
  }

  /** The stored settings of an application (null: defaults). */
  async settingsRow(applicationId: string): Promise<PushSettings | null> {
    return this.settings.get(applicationId);
  }

  /** Stores the credentials the GDS logs in with on this device (null: back to the fleet default). */
  async setCredentials(actor: string, applicationId: string, credentials: PushCredentials): Promise<PushSettingsView> {
    const app = await this.application(applicationId);
    let change: Parameters<PushSettingsStore["change"]>[1];
    let details: string;
    if (credentials === null) {
      change = { userName: null, sealedPassword: null, userCertificateDer: null, sealedUserPrivateKey: null };
      details = "cleared: fleet default";
    } else if ("userName" in credentials) {
      if (!credentials.userName || credentials.userName.length > 256 || /[\u0000-\u001f]/.test(credentials.userName)) throw invalidArgument("the user name must be 1 to 256 printable characters");
      if (credentials.password.length > 1024) throw invalidArgument("the password is longer than 1024 characters");
      change = { userName: credentials.userName, sealedPassword: this.secrets.seal(credentials.password), userCertificateDer: null, sealedUserPrivateKey: null };
      details = `user ${credentials.userName}`;
    } else {
      const summary = summarizeCertificate(credentials.certificateDer);
      change = { userName: null, sealedPassword: null, userCertificateDer: credentials.certificateDer, sealedUserPrivateKey: this.secrets.seal(credentials.privateKeyPem) };
      details = `X509 user certificate ${summary.thumbprint}`;
    }
    const saved = await this.settings.change(applicationId, change, this.clock.nowMs(), pushAudit(actor, "PushCredentialsChanged", app, details));
    return this.view(app, saved);
  }

  /** Sets the endpoint pushes go to (null: the application's first DiscoveryUrl). */
  async setEndpoint(actor: string, applicationId: string, endpointUrl: string | null): Promise<PushSettingsView> {
    const app = await this.application(applicationId);
    if (endpointUrl !== null && !/^opc\.tcp:\/\/[^\s/]+/i.test(endpointUrl)) throw invalidArgument(`"${endpointUrl.slice(0, 80)}" is not an opc.tcp:// endpoint URL`);
    const saved = await this.settings.change(applicationId, { endpointUrl }, this.clock.nowMs(), pushAudit(actor, "PushEndpointChanged", app, endpointUrl ?? "default: first DiscoveryUrl"));
    return this.view(app, saved);
  }

  /**
   * Sets the maintenance window in which the scheduler may start pushes to the device (null: any
   * time), checked before it is stored; the time zone defaults to UTC.
   */
  async setMaintenanceWindow(actor: string, applicationId: string, spec: string | null, timeZone: string | null): Promise<PushSettingsView> {
    const app = await this.application(applicationId);
    const window = spec === null ? null : parseMaintenanceWindow(spec, timeZone ?? "UTC");
    const details = window ? `${window.spec} (${window.timeZone})` : "cleared: any time";
    const saved = await this.settings.change(applicationId, { maintenanceWindow: window?.spec ?? null, maintenanceTimeZone: window ? window.timeZone : null }, this.clock.nowMs(), pushAudit(actor, "PushWindowChanged", app, details));
    return this.view(app, saved);
  }

  /** Switches the scheduler's automatic renewal of the device on or off. */
  async setAutoRenew(actor: string, applicationId: string, on: boolean): Promise<PushSettingsView> {
    const app = await this.application(applicationId);
    const saved = await this.settings.change(applicationId, { autoRenew: on }, this.clock.nowMs(), pushAudit(actor, "PushAutoRenewChanged", app, on ? "on" : "off"));
    return this.view(app, saved);
  }

  /** The push settings of an application, without secrets. */
  async settingsOf(applicationId: string): Promise<PushSettingsView> {
    const app = await this.application(applicationId);
    return this.view(app, await this.settings.get(applicationId));
  }

  private view(app: ApplicationRecord, s: PushSettings | null): PushSettingsView {
    return {
      applicationId: app.applicationId,
      applicationUri: app.applicationUri,
      endpointUrl: this.endpointOf(app, s),
      endpointIsDefault: !s?.endpointUrl,
      credentials: this.describeCredentials(s),
      pinnedThumbprint: s?.pinnedThumbprint ?? null,
      extraTrustedCertificates: (s?.extraTrustedCertificates ?? []).map((c) => thumbprintOf(c)),
      maintenanceWindow: s?.maintenanceWindow ?? null,
      maintenanceTimeZone: s?.maintenanceTimeZone ?? "UTC",
      autoRenew: s?.autoRenew ?? true,
    };
  }

  /** Where pushes to the application go: its push endpoint, or its first opc.tcp DiscoveryUrl. */
  endpointOf(app: ApplicationRecord, s: PushSettings | null): string | null {
    return s?.endpointUrl ?? app.discoveryUrls.find((u) => /^opc\.tcp:/i.test(u)) ?? null;
  }

  /** As whom the GDS logs in on the device, in words. */
  describeCredentials(s: PushSettings | null): string {
    if (s?.userCertificateDer) return `X509 user certificate ${thumbprintOf(s.userCertificateDer)} (device)`;
    if (s?.userName) return `user '${s.userName}' (device)`;
    if (this.fleet.userName) return `user '${this.fleet.userName}' (fleet default)`;
    return "anonymous (no credentials set)";
  }

  private identityOf(s: PushSettings | null): DeviceIdentity {
    if (s?.userCertificateDer && s.sealedUserPrivateKey) return { type: "certificate", certificateDer: s.userCertificateDer, privateKeyPem: this.secrets.open(s.sealedUserPrivateKey).toString("utf8") };
    if (s?.userName) return { type: "userName", userName: s.userName, password: s.sealedPassword ? this.secrets.open(s.sealedPassword).toString("utf8") : "" };
    if (this.fleet.userName) return { type: "userName", userName: this.fleet.userName, password: this.fleet.password ?? "" };
    return { type: "anonymous" };
  }

  // ---- first contact -------------------------------------------------------------------------

  /**
   * `app trust`: shows the certificate the device presents and pins it, so that later pushes
   * accept it. With `expectThumbprint` it pins only that certificate (checked out of band).
   */
  async trustDevice(actor: string, applicationId: string, options: { timeoutMs: number; expectThumbprint?: string }): Promise<{ certificate: CertificateSummary; issuedByGds: boolean; pinned: boolean; endpointUrl: string }> {
    const app = await this.application(applicationId);
    const s = await this.settings.get(applicationId);
    const endpointUrl = this.endpointOf(app, s);
    if (!endpointUrl) throw invalidArgument(`${formatApplicationId(app.applicationId)} has no opc.tcp DiscoveryUrl: set one with \`opcua-gds push endpoint ${formatApplicationId(app.applicationId)} URL\``);
    const der = await (await this.connector()).presentedCertificate(endpointUrl, options.timeoutMs);
    const certificate = summarizeCertificate(der);
    const issuedByGds = await this.certificates.isCurrentCertificateOf(applicationId, der);
    const expected = options.expectThumbprint?.replace(/[:\s]/g, "").toLowerCase();
    if (expected && expected !== certificate.thumbprint) {
      throw new GdsError("Conflict", `the device presents thumbprint ${certificate.thumbprint}, not ${expected}: nothing was pinned`);
    }
    await this.settings.change(applicationId, { pinnedThumbprint: certificate.thumbprint }, this.clock.nowMs(), pushAudit(actor, "DeviceCertificatePinned", app, `thumbprint=${certificate.thumbprint} subject=${certificate.subject}`));
    return { certificate, issuedByGds, pinned: true, endpointUrl };
  }

  private async acceptDevice(actor: string, app: ApplicationRecord, settings: PushSettings | null, der: Buffer, trustOnFirstUse: boolean): Promise<void> {
    const thumbprint = thumbprintOf(der);
    const decision = decideDeviceCertificate({
      thumbprint,
      pinnedThumbprint: settings?.pinnedThumbprint ?? null,
      issuedByGds: await this.certificates.isCurrentCertificateOf(app.applicationId, der),
      trustOnFirstUse,
      applicationIdText: formatApplicationId(app.applicationId),
    });
    if (!decision.accept) throw new PushFailure("device-untrusted", decision.reason);
    if (decision.by === "pinned-now") {
      await this.settings.change(app.applicationId, { pinnedThumbprint: thumbprint }, this.clock.nowMs(), pushAudit(actor, "DeviceCertificatePinned", app, `thumbprint=${thumbprint} (--trust-device-certificate)`));
      if (settings) settings.pinnedThumbprint = thumbprint;
    }
  }

  // ---- rejected certificates -----------------------------------------------------------------

  /**
   * GetRejectedList of a device: the certificates of clients it refused. With `trustThumbprint`,
   * adds that one to the device's trust list (AddCertificate) and keeps it in every trust list the
   * GDS pushes to the device afterwards.
   */
  async rejectedCertificates(actor: string, applicationId: string, options: { timeoutMs: number; trustThumbprint?: string }): Promise<{ rejected: CertificateSummary[]; trusted: CertificateSummary | null }> {
    const app = await this.application(applicationId);
    const s = await this.settings.get(applicationId);
    const device = await this.open(actor, app, s, options.timeoutMs, false);
    try {
      const list = await device.getRejectedList();
      const rejected = list.map((der) => summarizeCertificate(der));
      if (!options.trustThumbprint) return { rejected, trusted: null };
      const wanted = options.trustThumbprint.replace(/[:\s]/g, "").toLowerCase();
      const index = rejected.findIndex((r) => r.thumbprint === wanted);
      if (index < 0) throw new GdsError("NotFound", `the device's rejected list holds no certificate with thumbprint ${wanted}`);
      await device.addCertificate(list[index], true);
      const extra = (s?.extraTrustedCertificates ?? []).filter((c) => thumbprintOf(c) !== wanted);
      await this.settings.change(applicationId, { extraTrustedCertificates: [...extra, list[index]] }, this.clock.nowMs(), pushAudit(actor, "DeviceTrustAdded", app, `thumbprint=${wanted} subject=${rejected[index].subject}`));
      return { rejected, trusted: rejected[index] };
    } finally {
      await device.close();
    }
  }

  /** The certificate the device's endpoint presents now (no session, no credentials sent). */
  async presentedCertificate(app: ApplicationRecord, s: PushSettings | null, timeoutMs: number): Promise<Buffer> {
    const endpointUrl = this.endpointOf(app, s);
    if (!endpointUrl) throw new PushFailure("gds", `no opc.tcp endpoint: set one with \`opcua-gds push endpoint ${formatApplicationId(app.applicationId)} URL\``);
    return (await this.connector()).presentedCertificate(endpointUrl, timeoutMs);
  }

  /** Opens a session on the device; `accept` decides on its certificate (default: the first-contact rule). */
  async open(actor: string, app: ApplicationRecord, s: PushSettings | null, timeoutMs: number, trustOnFirstUse: boolean, accept?: (der: Buffer) => Promise<void>): Promise<DeviceSession> {
    const endpointUrl = this.endpointOf(app, s);
    if (!endpointUrl) throw new PushFailure("gds", `no opc.tcp endpoint: set one with \`opcua-gds push endpoint ${formatApplicationId(app.applicationId)} URL\``);
    const target: DeviceTarget = { endpointUrl, identity: this.identityOf(s), timeoutMs };
    return (await this.connector()).open(target, accept ?? ((der) => this.acceptDevice(actor, app, s, der, trustOnFirstUse)));
  }

  /**
   * The trust list a device gets: the group's CA certificates and CRLs (`groupContent` when the caller
   * read them already for many devices), plus what an operator trusted on it.
   */
  async trustListFor(settings: PushSettings | null, groupContent?: TrustListLists): Promise<TrustListLists> {
    const content = groupContent ?? (await this.certificates.trustListContent(DEFAULT_APPLICATION_GROUP));
    return { ...content, trustedCertificates: [...content.trustedCertificates, ...(settings?.extraTrustedCertificates ?? [])] };
  }

  /** The device now presents its GDS certificate: a pinned self-signed one is trusted no longer. */
  async unpin(actor: string, app: ApplicationRecord, settings: PushSettings | null, serialHex: string | null): Promise<void> {
    if (!settings?.pinnedThumbprint) return;
    await this.settings.change(app.applicationId, { pinnedThumbprint: null }, this.clock.nowMs(), pushAudit(actor, "DeviceCertificateUnpinned", app, `thumbprint=${settings.pinnedThumbprint}: replaced by serial ${serialHex}`));
  }
}
