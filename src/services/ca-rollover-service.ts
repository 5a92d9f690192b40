import { X509Certificate } from "node:crypto";
import { CERTIFICATE_GROUPS, DEFAULT_APPLICATION_GROUP, groupByName } from "../domain/certificate-groups";
import { ownCertificateMovesNow, retirementDecision, type RetirementDecision } from "../domain/ca-retirement";
import type { Clock } from "../domain/clock";
import type { CertificateService } from "./certificate-service";
import type { AuditLog, CaRenewOptions, CertificateAuthorityPort, CertificateStore, Signer } from "./ports";

/** One CA as `ca status` and `ca renew` report it. */
export interface CaSummary {
  serialHex: string;
  subject: string;
  notBeforeMs: number;
  notAfterMs: number;
}

/** A superseded CA and what holds it in the trust lists. */
export interface SupersededCaStatus extends CaSummary {
  /** Certificates it issued that are still in use (unrevoked, unexpired, not replaced). */
  certificatesInUse: number;
  /** True while the GDS's own certificate comes from it. */
  ownCertificate: boolean;
}

/** The CAs of one group and type during (or outside) a rollover. */
export interface RolloverStatus {
  group: string;
  certificateType: string;
  current: CaSummary;
  superseded: SupersededCaStatus[];
}

/** What one rollover check did. */
export interface RolloverCheckReport {
  retired: Array<{ group: string; certificateType: string; serialHex: string; reason: string }>;
  /** True when the GDS's own certificate was issued again by the new CA. */
  ownCertificateRenewed: boolean;
}

/** What `ca renew` did. */
export interface RenewReport {
  group: string;
  certificateType: string;
  current: CaSummary;
  superseded: CaSummary;
  keyReused: boolean;
  check: RolloverCheckReport;
}

/** Told when the trust of the GDS itself must follow a rollover (server trust store, own certificate). */
export interface RolloverListener {
  retired?(group: string, type: string, caSerialHex: string): void | Promise<void>;
  ownCertificateRenewed?(): void | Promise<void>;
}

function summary(signer: Signer): CaSummary {
  const facts = describeCertificate(signer.caCertificateDer);
  return { serialHex: signer.caSerialHex, subject: facts.subject, notBeforeMs: facts.notBeforeMs, notAfterMs: signer.caNotAfterMs };
}

/** Subject and notBefore of a DER certificate. */
function describeCertificate(der: Buffer): { subject: string; notBeforeMs: number } {
  const cert = new X509Certificate(der);
  return { subject: cert.subject.split("\n").join(", "), notBeforeMs: Date.parse(cert.validFrom) };
}

/**
 * CA rollover (issue 5 item 5): a new CA certificate while the old one is valid, both trusted
 * during the overlap, certificates moved to the new CA through the normal renewal path
 * (GetCertificateStatus answers UpdateRequired for an old-CA certificate), and retirement of the
 * old CA once nothing uses it. `checkRollover` is what a scheduler calls periodically.
 */
export class CaRolloverService {
  private readonly listeners: RolloverListener[] = [];

  constructor(
    private readonly store: CertificateStore,
    private readonly authorities: CertificateAuthorityPort,
    private readonly certificates: CertificateService,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  /** Registers a listener for retirements and for the GDS's own certificate moving to the new CA. */
  onChange(listener: RolloverListener): void {
    this.listeners.push(listener);
  }

  /**
   * `ca renew`: the group's CA is renewed (new key unless `reuseKey`); the old CA stays trusted
   * and keeps its CRL until it retires. One audit record (CaRenewed) with the superseding.
   */
  async renew(actor: string, groupName: string, options: CaRenewOptions): Promise<RenewReport> {
    const group = groupByName(groupName);
    const type = group.certificateTypes[0];
    await this.certificates.followAuthorities();
    const { current, superseded } = await this.authorities.renew(group.name, type.name, options);
    await this.supersede(actor, group.name, type.name, superseded, `new CA serial=${current.caSerialHex} key=${options.reuseKey ? "reused" : "new"}`);
    await this.certificates.refreshCrls(actor);
    const check = await this.checkRollover(this.clock.nowMs(), actor);
    return { group: group.name, certificateType: type.name, current: summary(current), superseded: summary(superseded), keyReused: options.reuseKey, check };
  }

  private async supersede(actor: string, group: string, type: string, superseded: Signer, details: string): Promise<void> {
    await this.store.supersede(group, type, superseded.caSerialHex, this.clock.nowMs(), this.certificates.crlSigner(group, type, superseded.caSerialHex), {
      actor,
      action: "CaRenewed",
      subject: `${group}/${type} CA ${superseded.caSerialHex}`,
      outcome: "Good",
      details,
    });
  }

  /** Whether each superseded CA of a group and type may retire now (pure decision on what the store holds). */
  private async decisions(group: string, type: string, nowMs: number): Promise<Array<{ signer: Signer; decision: RetirementDecision }>> {
    const previous = this.authorities.previousSigners(group, type);
    if (previous.length === 0) return [];
    const issued = await this.store.certificatesOfGroup(group, type);
    const own = group === DEFAULT_APPLICATION_GROUP.name ? await this.authorities.ownCertificateIssuer() : null;
    return previous.map((signer) => ({ signer, decision: retirementDecision({ serialHex: signer.caSerialHex, notAfterMs: signer.caNotAfterMs }, issued, own, nowMs) }));
  }

  /**
   * The periodic rollover check (also run at start-up, by `ca renew` and by `ca status`): takes
   * over a superseded CA whose database record is missing (a rollover installed with `ca install`
   * or interrupted), moves the GDS's own certificate to the new CA once it is the last user of the
   * old one, and retires every superseded CA that nothing uses any more. Idempotent.
   */
  async checkRollover(nowMs: number, actor = "scheduler"): Promise<RolloverCheckReport> {
    await this.certificates.followAuthorities();
    const report: RolloverCheckReport = { retired: [], ownCertificateRenewed: false };
    for (const group of CERTIFICATE_GROUPS) {
      for (const type of group.certificateTypes) {
        const rows = await this.store.previousCrls(group.name, type.name);
        const previous = this.authorities.previousSigners(group.name, type.name);
        let repaired = false;
        for (const signer of previous) {
          if (rows.some((r) => r.caSerialHex === signer.caSerialHex)) continue;
          await this.supersede(actor, group.name, type.name, signer, "superseded CA found in the data folder (ca install, or an interrupted ca renew)");
          repaired = true;
        }
        // A record whose CA files are gone (retired by another process) is closed too.
        for (const row of rows) {
          if (!previous.some((s) => s.caSerialHex === row.caSerialHex)) await this.retireRecord(actor, group.name, type.name, row.caSerialHex, "its files were retired already");
        }
        if (repaired) await this.certificates.refreshCrls(actor);

        let decisions = await this.decisions(group.name, type.name, nowMs);
        if (decisions.some((d) => ownCertificateMovesNow(d.decision))) {
          await this.authorities.renewOwnCertificate();
          await this.audit.append({ actor, action: "ServerCertificateRenewed", subject: `GDS certificate from ${group.name}/${type.name} CA ${this.authorities.signer(group.name, type.name).caSerialHex}`, outcome: "Good", details: "the last certificate of the superseded CA" });
          for (const l of this.listeners) await l.ownCertificateRenewed?.();
          report.ownCertificateRenewed = true;
          decisions = await this.decisions(group.name, type.name, nowMs);
        }
        for (const { signer, decision } of decisions) {
          if (!decision.retire) continue;
          await this.retireRecord(actor, group.name, type.name, signer.caSerialHex, decision.reason === "expired" ? "the CA certificate expired" : "no certificate it issued is in use");
          await this.authorities.retire(group.name, type.name, signer.caSerialHex);
          for (const l of this.listeners) await l.retired?.(group.name, type.name, signer.caSerialHex);
          report.retired.push({ group: group.name, certificateType: type.name, serialHex: signer.caSerialHex, reason: decision.reason });
        }
      }
    }
    return report;
  }

  private async retireRecord(actor: string, group: string, type: string, caSerialHex: string, why: string): Promise<void> {
    await this.store.retire(group, type, caSerialHex, { actor, action: "CaRetired", subject: `${group}/${type} CA ${caSerialHex}`, outcome: "Good", details: why });
  }

  /** `ca status`: every group's current CA and the superseded CAs still trusted, with what holds them. */
  async status(nowMs: number): Promise<RolloverStatus[]> {
    await this.certificates.followAuthorities();
    const result: RolloverStatus[] = [];
    for (const group of CERTIFICATE_GROUPS) {
      for (const type of group.certificateTypes) {
        const superseded = (await this.decisions(group.name, type.name, nowMs)).map(({ signer, decision }) => ({
          ...summary(signer),
          certificatesInUse: decision.retire ? 0 : decision.inUse.length,
          ownCertificate: !decision.retire && decision.ownCertificate,
        }));
        result.push({ group: group.name, certificateType: type.name, current: summary(this.authorities.signer(group.name, type.name)), superseded });
      }
    }
    return result;
  }
}
