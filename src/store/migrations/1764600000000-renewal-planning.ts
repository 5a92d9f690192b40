import { TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";

/**
 * Renewal planning reads this index alone: per group, type and application, the certificates in
 * issue order with what decides whether one is due, so the scheduler never reads a certificate row
 * (whose DER makes it large) to plan.
 */
export class RenewalPlanning1764600000000 implements MigrationInterface {
  name = "RenewalPlanning1764600000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createIndex(
      "issued_certificates",
      new TableIndex({
        name: "ix_issued_certificates_planning",
        columnNames: ["group_name", "certificate_type", "application_id", "not_before", "not_after", "renewal_at", "revoked_at", "issuer_serial"],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex("issued_certificates", "ix_issued_certificates_planning");
  }
}
