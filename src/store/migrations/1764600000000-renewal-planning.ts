import { TableColumn, type MigrationInterface, type QueryRunner } from "typeorm";

/**
 * Renewal planning reads only the certificates that are due. Each certificate is marked
 * `superseded` once a newer one is issued to the same application, group and type (by the issuance
 * statement itself, see CertificateRepository.approveAndIssue), and small partial indexes over the
 * current (not superseded) certificates answer "renewal time passed", "revoked" and "signed by
 * another CA" with index ranges: the scheduler's look costs what is due, not what the fleet holds.
 * Existing rows are marked here: a certificate is superseded when one with a later notBefore (the
 * serial breaking ties) exists.
 */
export class RenewalPlanning1764600000000 implements MigrationInterface {
  name = "RenewalPlanning1764600000000";

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn("issued_certificates", new TableColumn({ name: "superseded", type: "boolean", default: false }));
    await q.query(`UPDATE issued_certificates SET superseded = TRUE WHERE EXISTS (SELECT 1 FROM issued_certificates n
      WHERE n.application_id = issued_certificates.application_id AND n.group_name = issued_certificates.group_name
        AND n.certificate_type = issued_certificates.certificate_type
        AND (n.not_before > issued_certificates.not_before OR (n.not_before = issued_certificates.not_before AND n.serial > issued_certificates.serial)))`);
    for (const [name, columns, extra] of CURRENT_INDEXES) {
      await q.query(`CREATE INDEX ${name} ON issued_certificates (${columns}) WHERE superseded = FALSE${extra}`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [name] of CURRENT_INDEXES) await q.query(`DROP INDEX ${name}`);
    await q.dropColumn("issued_certificates", "superseded");
  }
}

/** Current certificates by renewal time, revoked ones, and by issuing CA; each carries what the planning query reads. */
const CURRENT_INDEXES: Array<[string, string, string]> = [
  ["ix_issued_current_renewal", "group_name, certificate_type, renewal_at, not_after, application_id", ""],
  ["ix_issued_current_revoked", "group_name, certificate_type, not_after, application_id", " AND revoked_at IS NOT NULL"],
  ["ix_issued_current_issuer", "group_name, certificate_type, issuer_serial, not_after, application_id", ""],
];
