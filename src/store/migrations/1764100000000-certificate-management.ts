import { Table, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";

/** Certificate requests, issued certificates and CA revocation state. */
export class CertificateManagement1764100000000 implements MigrationInterface {
  name = "CertificateManagement1764100000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "certificate_requests",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "application_id", type: "varchar", length: "36" },
          { name: "group_name", type: "varchar", length: "64" },
          { name: "certificate_type", type: "varchar", length: "64" },
          { name: "kind", type: "varchar", length: "16" },
          { name: "state", type: "varchar", length: "16" },
          { name: "requested_by", type: "varchar", length: "256" },
          { name: "requester_thumbprint", type: "varchar", length: "64", isNullable: true },
          { name: "csr", type: "text", isNullable: true },
          { name: "subject_name", type: "varchar", length: "1100", isNullable: true },
          { name: "domain_names", type: "text" },
          { name: "private_key_format", type: "varchar", length: "8", isNullable: true },
          { name: "sealed_private_key", type: "text", isNullable: true },
          { name: "sealed_key_password", type: "text", isNullable: true },
          { name: "serial", type: "varchar", length: "64", isNullable: true },
          { name: "created_at", type: "bigint" },
          { name: "decided_by", type: "varchar", length: "256", isNullable: true },
          { name: "decided_at", type: "bigint", isNullable: true },
          { name: "reject_reason", type: "varchar", length: "512", isNullable: true },
        ],
      }),
    );
    await q.createIndex("certificate_requests", new TableIndex({ name: "ix_certificate_requests_application", columnNames: ["application_id"] }));
    await q.createIndex("certificate_requests", new TableIndex({ name: "ix_certificate_requests_state", columnNames: ["state"] }));

    await q.createTable(
      new Table({
        name: "issued_certificates",
        columns: [
          { name: "serial", type: "varchar", length: "64", isPrimary: true },
          { name: "thumbprint", type: "varchar", length: "64" },
          { name: "application_id", type: "varchar", length: "36" },
          { name: "application_uri", type: "varchar", length: "1024" },
          { name: "group_name", type: "varchar", length: "64" },
          { name: "certificate_type", type: "varchar", length: "64" },
          { name: "issuer_serial", type: "varchar", length: "64" },
          { name: "request_id", type: "varchar", length: "36", isNullable: true },
          { name: "not_before", type: "bigint" },
          { name: "not_after", type: "bigint" },
          { name: "renewal_at", type: "bigint" },
          { name: "revoked_at", type: "bigint", isNullable: true },
          { name: "revocation_reason", type: "varchar", length: "256", isNullable: true },
          { name: "der", type: "text" },
        ],
      }),
    );
    await q.createIndex("issued_certificates", new TableIndex({ name: "uq_issued_certificates_thumbprint", columnNames: ["thumbprint"], isUnique: true }));
    await q.createIndex("issued_certificates", new TableIndex({ name: "ix_issued_certificates_application", columnNames: ["application_id", "group_name", "certificate_type"] }));
    await q.createIndex("issued_certificates", new TableIndex({ name: "ix_issued_certificates_not_after", columnNames: ["not_after"] }));
    await q.createIndex("issued_certificates", new TableIndex({ name: "ix_issued_certificates_renewal", columnNames: ["renewal_at"] }));

    await q.createTable(
      new Table({
        name: "ca_states",
        columns: [
          { name: "group_name", type: "varchar", length: "64", isPrimary: true },
          { name: "certificate_type", type: "varchar", length: "64", isPrimary: true },
          { name: "crl_number", type: "bigint" },
          { name: "crl", type: "text" },
          { name: "crl_this_update", type: "bigint" },
          { name: "crl_next_update", type: "bigint" },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("ca_states");
    await q.dropTable("issued_certificates");
    await q.dropTable("certificate_requests");
  }
}
