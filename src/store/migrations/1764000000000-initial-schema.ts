import { Table, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";

/** The first schema: applications, users, audit records and counters (SQLite and PostgreSQL alike). */
export class InitialSchema1764000000000 implements MigrationInterface {
  name = "InitialSchema1764000000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "applications",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "application_uri", type: "varchar", length: "1024" },
          { name: "application_type", type: "integer" },
          { name: "product_uri", type: "varchar", length: "1024" },
          { name: "default_name", type: "varchar", length: "512" },
          { name: "names", type: "text" },
          { name: "discovery_urls", type: "text" },
          { name: "capabilities", type: "varchar", length: "2200" },
          { name: "record_id", type: "bigint" },
          { name: "created_at", type: "bigint" },
          { name: "updated_at", type: "bigint" },
        ],
      }),
    );
    await q.createIndex("applications", new TableIndex({ name: "uq_applications_uri", columnNames: ["application_uri"], isUnique: true }));
    await q.createIndex("applications", new TableIndex({ name: "uq_applications_record_id", columnNames: ["record_id"], isUnique: true }));

    await q.createTable(
      new Table({
        name: "users",
        columns: [
          { name: "name", type: "varchar", length: "128", isPrimary: true },
          { name: "password_hash", type: "varchar", length: "512", isNullable: true },
          { name: "roles", type: "varchar", length: "512" },
          { name: "certificate_thumbprint", type: "varchar", length: "64", isNullable: true },
          { name: "created_at", type: "bigint" },
        ],
      }),
    );
    await q.createIndex("users", new TableIndex({ name: "uq_users_certificate", columnNames: ["certificate_thumbprint"], isUnique: true }));

    await q.createTable(
      new Table({
        name: "audit_records",
        columns: [
          { name: "seq", type: "integer", isPrimary: true, isGenerated: true, generationStrategy: "increment" },
          { name: "at", type: "bigint" },
          { name: "actor", type: "varchar", length: "256" },
          { name: "action", type: "varchar", length: "64" },
          { name: "subject", type: "varchar", length: "1100" },
          { name: "outcome", type: "varchar", length: "64" },
          { name: "details", type: "text", isNullable: true },
        ],
      }),
    );
    await q.createIndex("audit_records", new TableIndex({ name: "ix_audit_records_at", columnNames: ["at"] }));

    await q.createTable(
      new Table({
        name: "counters",
        columns: [
          { name: "name", type: "varchar", length: "64", isPrimary: true },
          { name: "value", type: "bigint" },
          { name: "reset_at", type: "bigint" },
        ],
      }),
    );
    await q.query(`INSERT INTO counters (name, value, reset_at) VALUES ('application_record', 0, ${Date.now()})`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("counters");
    await q.dropTable("audit_records");
    await q.dropTable("users");
    await q.dropTable("applications");
  }
}
