import { In, IsNull, LessThan, MoreThan, Not, type EntityManager } from "typeorm";
import type { CertificateRequestRecord, RequestKind, RequestState } from "../domain/certificate-request";
import { checkDecidable } from "../domain/certificate-request";
import type { Clock } from "../domain/clock";
import { GdsError } from "../domain/errors";
import type { AuditEntry, CertificateStore, CrlSigner, CrlState, IssuedCertificateRow, PreviousCrl, StoredRequest } from "../services/ports";
import { auditInsert, writeAudit } from "./audit-writer";
import { AuditRecordEntity } from "./entities/audit-record-entity";
import { changeAndInsert, EntitySql, placeholders, rowsOf, statement, type RowOf } from "./entity-sql";
import type { Database } from "./database";
import { CaStateEntity } from "./entities/ca-state-entity";
import { CertificateRequestEntity } from "./entities/certificate-request-entity";
import { IssuedCertificateEntity } from "./entities/issued-certificate-entity";
import { PreviousCaCrlEntity } from "./entities/previous-ca-crl-entity";

function toRequest(e: CertificateRequestEntity): StoredRequest {
  return {
    requestId: e.id,
    applicationId: e.applicationId,
    groupName: e.groupName,
    certificateTypeName: e.certificateTypeName,
    kind: e.kind as RequestKind,
    state: e.state as RequestState,
    requestedBy: e.requestedBy,
    requesterThumbprint: e.requesterThumbprint,
    createdAtMs: e.createdAtMs,
    decidedBy: e.decidedBy,
    decidedAtMs: e.decidedAtMs,
    rejectReason: e.rejectReason,
    serialHex: e.serialHex,
    subjectName: e.subjectName,
    domainNames: e.domainNames,
    privateKeyFormat: e.privateKeyFormat as "PFX" | "PEM" | null,
    csrDer: e.csr ? Buffer.from(e.csr, "base64") : null,
    sealedPrivateKey: e.sealedPrivateKey,
    sealedKeyPassword: e.sealedKeyPassword,
  };
}

function publicRequest(r: StoredRequest): CertificateRequestRecord {
  const { csrDer: _csr, sealedPrivateKey: _key, sealedKeyPassword: _password, ...rest } = r;
  return rest;
}

function toRow(e: IssuedCertificateEntity): IssuedCertificateRow {
  const { superseded: _planning, ...row } = e;
  return { ...row, der: Buffer.from(row.der, "base64") };
}

function toCrlState(e: CaStateEntity | PreviousCaCrlEntity): CrlState {
  return { crlNumber: e.crlNumber, crlDer: Buffer.from(e.crl, "base64"), thisUpdateMs: e.crlThisUpdateMs, nextUpdateMs: e.crlNextUpdateMs };
}

/** CertificateStore on TypeORM; the issuance path in plain SQL, each change one transaction with its audit. */
export class CertificateRepository implements CertificateStore {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  private get requests(): EntitySql<CertificateRequestEntity> {
    return EntitySql.of(this.db.dataSource, CertificateRequestEntity);
  }

  private get certificates(): EntitySql<IssuedCertificateEntity> {
    return EntitySql.of(this.db.dataSource, IssuedCertificateEntity);
  }

  private auditOf(entry: AuditEntry): RowOf<AuditRecordEntity> {
    return auditInsert(this.db.dataSource, entry, this.clock.nowMs());
  }

  private lockFor() {
    return this.db.kind === "postgres" ? { mode: "pessimistic_write" as const } : undefined;
  }

  async insertRequest(r: StoredRequest, audit: AuditEntry): Promise<void> {
    const row: CertificateRequestEntity = {
      id: r.requestId,
      applicationId: r.applicationId,
      groupName: r.groupName,
      certificateTypeName: r.certificateTypeName,
      kind: r.kind,
      state: r.state,
      requestedBy: r.requestedBy.slice(0, 256),
      requesterThumbprint: r.requesterThumbprint,
      csr: r.csrDer ? r.csrDer.toString("base64") : null,
      subjectName: r.subjectName,
      domainNames: r.domainNames,
      privateKeyFormat: r.privateKeyFormat,
      sealedPrivateKey: r.sealedPrivateKey,
      sealedKeyPassword: r.sealedKeyPassword,
      serialHex: null,
      createdAtMs: r.createdAtMs,
      decidedBy: null,
      decidedAtMs: null,
      rejectReason: null,
    };
    await changeAndInsert(this.db, statement(this.requests.insertStatement(row), ' RETURNING "id"'), [this.auditOf(audit)]);
  }

  async getRequest(requestId: string): Promise<StoredRequest | null> {
    const [e] = await this.requests.where(this.db.reader, "id", requestId);
    return e ? toRequest(e) : null;
  }

  private requestWithCertificateSql?: string;

  async requestWithCertificate(requestId: string): Promise<{ request: StoredRequest; certificate: IssuedCertificateRow | null } | null> {
    const [requests, certificates] = [this.requests, this.certificates];
    this.requestWithCertificateSql ??= requests.sql(
      `SELECT ${requests.selectListOf("r")}, ${certificates.selectListOf("c")} FROM ${requests.table} r LEFT JOIN ${certificates.table} c ON c."serial" = r."serial" WHERE r."id" = ?`,
    );
    const [row] = await rowsOf<Record<string, unknown>>(this.db.reader, this.requestWithCertificateSql, [requestId]);
    if (!row) return null;
    const certificate = certificates.fromRow(row, "c");
    return { request: toRequest(requests.fromRow(row, "r")), certificate: certificate.serialHex === null ? null : toRow(certificate) };
  }

  async listRequests(filter: { state?: RequestState; applicationId?: string }): Promise<CertificateRequestRecord[]> {
    const rows = await this.db.dataSource.manager.find(CertificateRequestEntity, {
      where: { ...(filter.state ? { state: filter.state } : {}), ...(filter.applicationId ? { applicationId: filter.applicationId } : {}) },
      order: { createdAtMs: "ASC" },
    });
    return rows.map((e) => publicRequest(toRequest(e)));
  }

  private async lockedRequest(m: EntityManager, requestId: string): Promise<CertificateRequestEntity> {
    const [e] = await this.requests.where(m, "id", requestId, true);
    if (!e) throw new GdsError("NotFound", `no certificate request ${requestId}`);
    return e;
  }

  // The statements of every issuance, written once: the prepared-statement cache is keyed by their text.
  private approveSql?: string;
  private supersedeSql?: string;
  private acceptSql?: string;

  async approveAndIssue(requestId: string, decidedBy: string, nowMs: number, row: IssuedCertificateRow, audit: AuditEntry): Promise<IssuedCertificateRow> {
    // Only a request that is still New is approved: the conditional update decides (and locks it).
    const approve = {
      sql: (this.approveSql ??= `UPDATE ${this.requests.table} SET "state" = 'Approved', "decided_by" = ?, "decided_at" = ?, "serial" = ? WHERE "id" = ? AND "state" = 'New' RETURNING "id"`),
      parameters: [decidedBy.slice(0, 256), nowMs, row.serialHex, requestId],
    };
    const issued = { table: this.certificates, row: { ...row, der: row.der.toString("base64") } };
    const details = `${audit.details ?? ""} serial=${row.serialHex} thumbprint=${row.thumbprint}`.trim();
    // The application's earlier certificates of this group and type stop being current (renewal planning reads current ones only).
    const supersede = {
      sql: (this.supersedeSql ??= `UPDATE ${this.certificates.table} SET "superseded" = TRUE WHERE "application_id" = ? AND "group_name" = ? AND "certificate_type" = ? AND "superseded" = FALSE AND "serial" <> ?`),
      parameters: [row.applicationId, row.groupName, row.certificateTypeName, row.serialHex],
    };
    if (!(await changeAndInsert(this.db, approve, [issued, this.auditOf({ ...audit, details })], [supersede]))) {
      const request = await this.getRequest(requestId);
      if (!request) throw new GdsError("NotFound", `no certificate request ${requestId}`);
      checkDecidable(request);
      throw new GdsError("Conflict", `request ${requestId} could not be approved`);
    }
    return row;
  }

  async reject(requestId: string, decidedBy: string, reason: string | null, nowMs: number, audit: AuditEntry): Promise<void> {
    await this.db.transaction(async (m) => {
      const e = await this.lockedRequest(m, requestId);
      checkDecidable(toRequest(e));
      await m.update(CertificateRequestEntity, { id: requestId }, { state: "Rejected", decidedBy: decidedBy.slice(0, 256), decidedAtMs: nowMs, rejectReason: reason?.slice(0, 512) ?? null, sealedPrivateKey: null, sealedKeyPassword: null });
      await writeAudit(m, audit, this.clock.nowMs());
    });
  }

  async markAccepted(requestId: string, audit: AuditEntry): Promise<void> {
    // The generated key stays sealed for `export` (offline bundles) until its certificate is
    // revoked; the requester's password has served its purpose.
    const accept = {
      sql: (this.acceptSql ??= `UPDATE ${this.requests.table} SET "state" = 'Accepted', "sealed_key_password" = NULL WHERE "id" = ? AND "state" = 'Approved' RETURNING "id"`),
      parameters: [requestId],
    };
    if (!(await changeAndInsert(this.db, accept, [this.auditOf(audit)]))) {
      const request = await this.getRequest(requestId);
      if (!request) throw new GdsError("NotFound", `no certificate request ${requestId}`);
      throw new GdsError("InvalidArgument", `request ${requestId} is ${request.state}, not Approved`);
    }
  }

  async certificate(serialHex: string): Promise<IssuedCertificateRow | null> {
    const [e] = await this.certificates.where(this.db.reader, "serial", serialHex.toLowerCase());
    return e ? toRow(e) : null;
  }

  async certificateByThumbprint(thumbprint: string): Promise<IssuedCertificateRow | null> {
    const [e] = await this.certificates.where(this.db.reader, "thumbprint", thumbprint.toLowerCase());
    return e ? toRow(e) : null;
  }

  async certificatesOf(applicationId: string): Promise<IssuedCertificateRow[]> {
    const rows = await this.db.dataSource.manager.find(IssuedCertificateEntity, { where: { applicationId }, order: { notBeforeMs: "ASC" } });
    return rows.map(toRow);
  }

  async dueForRenewal(groupName: string, typeName: string, currentCaSerialHex: string, nowMs: number): Promise<string[]> {
    // Current (not superseded) unexpired certificates that are due, revoked or signed by another CA:
    // each branch is a range of one partial index over current certificates (migration
    // 1764600000000), so the cost follows what is due, not the size of the fleet.
    const current = "group_name = ? AND certificate_type = ? AND superseded = FALSE AND not_after > ?";
    const sql = placeholders(
      this.db.dataSource,
      [`renewal_at <= ?`, `revoked_at IS NOT NULL`, `issuer_serial < ?`, `issuer_serial > ?`].map((due) => `SELECT application_id FROM issued_certificates WHERE ${current} AND ${due}`).join(" UNION "),
    );
    const head = [groupName, typeName, nowMs];
    const params = [...head, nowMs, ...head, ...head, currentCaSerialHex, ...head, currentCaSerialHex];
    const rows: Array<{ application_id: string }> = await this.db.dataSource.query(sql, params);
    return rows.map((r) => r.application_id);
  }

  async listCertificates(filter: { applicationId?: string; expiringBeforeMs?: number }): Promise<IssuedCertificateRow[]> {
    const rows = await this.db.dataSource.manager.find(IssuedCertificateEntity, {
      where: { ...(filter.applicationId ? { applicationId: filter.applicationId } : {}), ...(filter.expiringBeforeMs !== undefined ? { notAfterMs: LessThan(filter.expiringBeforeMs) } : {}) },
      order: { notAfterMs: "DESC" },
    });
    return rows.map(toRow);
  }

  /**
   * Signs and stores the next CRL of one CA: the group/type's current CA (`ca_states`), or a CA a
   * rollover superseded (`previous_ca_crls`, when `caSerialHex` names one). Each CA lists only the
   * revoked certificates it issued itself.
   */
  private async nextCrl(m: EntityManager, group: string, type: string, caSerialHex: string | null, nowMs: number, signCrl: CrlSigner): Promise<CrlState> {
    const previousSerials = (await m.find(PreviousCaCrlEntity, { where: { groupName: group, certificateTypeName: type } })).map((p) => p.caSerialHex);
    const previous = caSerialHex !== null && previousSerials.includes(caSerialHex);
    const where = { groupName: group, certificateTypeName: type };
    const state = previous
      ? await m.findOne(PreviousCaCrlEntity, { where: { ...where, caSerialHex: caSerialHex! }, lock: this.lockFor() })
      : await m.findOne(CaStateEntity, { where, lock: this.lockFor() });
    const revoked = await m.find(IssuedCertificateEntity, {
      // An expired certificate may leave the CRL (RFC 5280 §3.3): it cannot be used any more.
      where: {
        ...where,
        revokedAtMs: MoreThan(0),
        notAfterMs: MoreThan(nowMs),
        ...(previous ? { issuerSerialHex: caSerialHex! } : previousSerials.length ? { issuerSerialHex: Not(In(previousSerials)) } : {}),
      },
      order: { revokedAtMs: "ASC" },
    });
    const next = await signCrl(revoked.map(toRow), (state?.crlNumber ?? 0) + 1);
    const columns = { crlNumber: next.crlNumber, crl: next.crlDer.toString("base64"), crlThisUpdateMs: next.thisUpdateMs, crlNextUpdateMs: next.nextUpdateMs };
    if (previous) await m.update(PreviousCaCrlEntity, { ...where, caSerialHex: caSerialHex! }, columns);
    else if (state) await m.update(CaStateEntity, where, columns);
    else await m.insert(CaStateEntity, { ...where, ...columns });
    return next;
  }

  async revoke(serials: string[], reason: string, nowMs: number, signCrl: (group: string, type: string, caSerialHex: string) => CrlSigner, audit: AuditEntry): Promise<IssuedCertificateRow[]> {
    return this.db.transaction(async (m) => {
      const rows = await m.find(IssuedCertificateEntity, { where: { serialHex: In(serials.map((s) => s.toLowerCase())), revokedAtMs: IsNull() } });
      if (rows.length === 0) return [];
      await m.update(IssuedCertificateEntity, { serialHex: In(rows.map((r) => r.serialHex)) }, { revokedAtMs: nowMs, revocationReason: reason.slice(0, 256) });
      // A revoked certificate's generated key has no use left: wipe it with the revocation.
      await m.update(CertificateRequestEntity, { serialHex: In(rows.map((r) => r.serialHex)) }, { sealedPrivateKey: null, sealedKeyPassword: null });
      const cas = new Map(rows.map((r) => [`${r.groupName}\u0000${r.certificateTypeName}\u0000${r.issuerSerialHex}`, r]));
      for (const r of cas.values()) await this.nextCrl(m, r.groupName, r.certificateTypeName, r.issuerSerialHex, nowMs, signCrl(r.groupName, r.certificateTypeName, r.issuerSerialHex));
      await writeAudit(m, { ...audit, details: `serials=${rows.map((r) => r.serialHex).join(",")}` }, this.clock.nowMs());
      return rows.map((r) => ({ ...toRow(r), revokedAtMs: nowMs, revocationReason: reason }));
    });
  }

  async crlState(group: string, type: string): Promise<CrlState | null> {
    const e = await this.db.dataSource.manager.findOne(CaStateEntity, { where: { groupName: group, certificateTypeName: type } });
    return e ? toCrlState(e) : null;
  }

  async previousCrls(group?: string, type?: string): Promise<PreviousCrl[]> {
    const rows = await this.db.dataSource.manager.find(PreviousCaCrlEntity, {
      where: { ...(group ? { groupName: group } : {}), ...(type ? { certificateTypeName: type } : {}) },
      order: { crlThisUpdateMs: "ASC" },
    });
    return rows.map((e) => ({ groupName: e.groupName, certificateTypeName: e.certificateTypeName, caSerialHex: e.caSerialHex, ...toCrlState(e) }));
  }

  async certificatesOfGroup(group: string, type: string): Promise<IssuedCertificateRow[]> {
    const rows = await this.db.dataSource.manager.find(IssuedCertificateEntity, { where: { groupName: group, certificateTypeName: type } });
    return rows.map(toRow);
  }

  async supersede(group: string, type: string, caSerialHex: string, nowMs: number, signCrl: CrlSigner, audit: AuditEntry): Promise<boolean> {
    return this.db.transaction(async (m) => {
      const key = { groupName: group, certificateTypeName: type };
      if (await m.findOne(PreviousCaCrlEntity, { where: { ...key, caSerialHex } })) return false;
      const current = await m.findOne(CaStateEntity, { where: key, lock: this.lockFor() });
      // One CRL number sequence for the group's CRLs, whichever CA signs: they share the issuer name.
      const base = current?.crlNumber ?? 0;
      const placeholder = { crlNumber: base, crl: "", crlThisUpdateMs: 0, crlNextUpdateMs: 0 };
      await m.insert(PreviousCaCrlEntity, { ...key, caSerialHex, ...placeholder });
      const next = await this.nextCrl(m, group, type, caSerialHex, nowMs, signCrl);
      if (current) await m.update(CaStateEntity, key, { crlNumber: next.crlNumber, crlNextUpdateMs: 0 });
      await writeAudit(m, { ...audit, details: `${audit.details ?? ""} crlNumber=${next.crlNumber}`.trim() }, this.clock.nowMs());
      return true;
    });
  }

  async retire(group: string, type: string, caSerialHex: string, audit: AuditEntry): Promise<boolean> {
    return this.db.transaction(async (m) => {
      const result = await m.delete(PreviousCaCrlEntity, { groupName: group, certificateTypeName: type, caSerialHex });
      if (!result.affected) return false;
      await writeAudit(m, audit, this.clock.nowMs());
      return true;
    });
  }

  async resignCrl(group: string, type: string, caSerialHex: string | null, nowMs: number, signCrl: CrlSigner, audit: AuditEntry): Promise<CrlState> {
    return this.db.transaction(async (m) => {
      const next = await this.nextCrl(m, group, type, caSerialHex, nowMs, signCrl);
      await writeAudit(m, { ...audit, details: `crlNumber=${next.crlNumber}` }, this.clock.nowMs());
      return next;
    });
  }
}
