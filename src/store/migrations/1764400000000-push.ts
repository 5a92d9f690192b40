import { Table, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";

/** Push settings per application and the push job queue (SQLite and PostgreSQL alike). */
export class Push1764400000000 implements MigrationInterface {
  name = "Push1764400000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "push_settings",
        columns: [
          { name: "application_id", type: "varchar", length: "36", isPrimary: true },
          { name: "endpoint_url", type: "varchar", length: "1024", isNullable: true },
          { name: "user_name", type: "varchar", length: "256", isNullable: true },
          { name: "sealed_password", type: "text", isNullable: true },
          { name: "user_certificate", type: "text", isNullable: true },
          { name: "sealed_user_key", type: "text", isNullable: true },
          { name: "pinned_thumbprint", type: "varchar", length: "64", isNullable: true },
          { name: "extra_trusted", type: "text" },
          { name: "updated_at", type: "bigint" },
        ],
      }),
    );

    await q.createTable(
      new Table({
        name: "push_jobs",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "application_id", type: "varchar", length: "36" },
          { name: "operation", type: "varchar", length: "16" },
          { name: "state", type: "varchar", length: "16" },
          { name: "step", type: "varchar", length: "32" },
          { name: "attempts", type: "integer" },
          { name: "max_attempts", type: "integer" },
          { name: "last_status", type: "varchar", length: "64", isNullable: true },
          { name: "reason", type: "text", isNullable: true },
          { name: "next_attempt_at", type: "bigint" },
          { name: "owner", type: "varchar", length: "128", isNullable: true },
          { name: "lease_expires_at", type: "bigint", isNullable: true },
          { name: "request_id", type: "varchar", length: "36", isNullable: true },
          { name: "issued_serial", type: "varchar", length: "64", isNullable: true },
          { name: "apply_changes_required", type: "boolean" },
          { name: "trust_list_digest", type: "varchar", length: "64", isNullable: true },
          { name: "created_by", type: "varchar", length: "256" },
          { name: "created_at", type: "bigint" },
          { name: "updated_at", type: "bigint" },
          { name: "finished_at", type: "bigint", isNullable: true },
        ],
      }),
    );
    // One active job per device, enforced by the database for every instance (a partial index on both).
    await q.createIndex("push_jobs", new TableIndex({ name: "uq_push_jobs_active", columnNames: ["application_id"], isUnique: true, where: "state IN ('queued', 'running')" }));
    await q.createIndex("push_jobs", new TableIndex({ name: "ix_push_jobs_application", columnNames: ["application_id", "created_at"] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("push_jobs");
    await q.dropTable("push_settings");
  }
}
