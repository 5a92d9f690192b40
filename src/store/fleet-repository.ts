import { And, IsNull, LessThanOrEqual, MoreThan, Not } from "typeorm";
import type { CrlState, CurrentCertificate, FleetCounts, FleetStore } from "../services/ports";
import type { Database } from "./database";
import { ApplicationEntity } from "./entities/application-entity";
import { CaStateEntity } from "./entities/ca-state-entity";
import { CertificateRequestEntity } from "./entities/certificate-request-entity";
import { IssuedCertificateEntity } from "./entities/issued-certificate-entity";
import { PushJobEntity } from "./entities/push-job-entity";

/** FleetStore on TypeORM: plain reads, never the certificates' DER. */
export class FleetRepository implements FleetStore {
  constructor(private readonly db: Database) {}

  async currentCertificates(nowMs: number): Promise<CurrentCertificate[]> {
    const rows = await this.db.dataSource.manager.find(IssuedCertificateEntity, {
      select: { serialHex: true, applicationId: true, applicationUri: true, groupName: true, certificateTypeName: true, notBeforeMs: true, notAfterMs: true, renewalAtMs: true },
      where: { revokedAtMs: IsNull(), notAfterMs: MoreThan(nowMs) },
    });
    const latest = new Map<string, IssuedCertificateEntity>();
    for (const r of rows) {
      const key = `${r.applicationId}\u0000${r.groupName}\u0000${r.certificateTypeName}`;
      const seen = latest.get(key);
      if (!seen || r.notBeforeMs > seen.notBeforeMs || (r.notBeforeMs === seen.notBeforeMs && r.notAfterMs > seen.notAfterMs)) latest.set(key, r);
    }
    return [...latest.values()].map((r) => ({
      serialHex: r.serialHex,
      applicationId: r.applicationId,
      applicationUri: r.applicationUri,
      groupName: r.groupName,
      certificateTypeName: r.certificateTypeName,
      notAfterMs: r.notAfterMs,
      renewalAtMs: r.renewalAtMs,
    }));
  }

  async counts(nowMs: number, expiringBeforeMs: number): Promise<FleetCounts> {
    const m = this.db.dataSource.manager;
    const unrevoked = { revokedAtMs: IsNull() };
    const [applications, revoked, expired, renewalDue, valid, expiringSoon, pendingRequests, pushes] = await Promise.all([
      m.count(ApplicationEntity),
      m.count(IssuedCertificateEntity, { where: { revokedAtMs: Not(IsNull()) } }),
      m.count(IssuedCertificateEntity, { where: { ...unrevoked, notAfterMs: LessThanOrEqual(nowMs) } }),
      m.count(IssuedCertificateEntity, { where: { ...unrevoked, notAfterMs: MoreThan(nowMs), renewalAtMs: LessThanOrEqual(nowMs) } }),
      m.count(IssuedCertificateEntity, { where: { ...unrevoked, renewalAtMs: MoreThan(nowMs) } }),
      m.count(IssuedCertificateEntity, { where: { ...unrevoked, notAfterMs: And(MoreThan(nowMs), LessThanOrEqual(expiringBeforeMs)) } }),
      m.count(CertificateRequestEntity, { where: { state: "New" } }),
      this.pushCounts(),
    ]);
    return { applications, certificates: { valid, renewalDue, expired, revoked }, expiringSoon, pendingRequests, pushes };
  }

  private async pushCounts(): Promise<FleetCounts["pushes"]> {
    const jobs = await this.db.dataSource.manager.find(PushJobEntity, { select: { applicationId: true, state: true, createdAtMs: true } });
    const counts = { succeeded: 0, failed: 0, active: 0, failingDevices: 0 };
    const latest = new Map<string, PushJobEntity>();
    for (const j of jobs) {
      if (j.state === "succeeded") counts.succeeded++;
      else if (j.state === "failed") counts.failed++;
      else counts.active++;
      const seen = latest.get(j.applicationId);
      if (!seen || j.createdAtMs > seen.createdAtMs) latest.set(j.applicationId, j);
    }
    for (const j of latest.values()) if (j.state === "failed") counts.failingDevices++;
    return counts;
  }

  async crls(): Promise<Array<{ groupName: string; certificateTypeName: string } & CrlState>> {
    const rows = await this.db.dataSource.manager.find(CaStateEntity);
    return rows.map((e) => ({
      groupName: e.groupName,
      certificateTypeName: e.certificateTypeName,
      crlNumber: e.crlNumber,
      crlDer: Buffer.from(e.crl, "base64"),
      thisUpdateMs: e.crlThisUpdateMs,
      nextUpdateMs: e.crlNextUpdateMs,
    }));
  }
}
