import { TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";

/**
 * Lifecycle automation: a maintenance window and automatic renewal per pushed application, and an
 * index for the scheduler's look for due jobs (SQLite and PostgreSQL alike).
 */
export class Lifecycle1764500000000 implements MigrationInterface {
  name = "Lifecycle1764500000000";

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns("push_settings", [
      new TableColumn({ name: "maintenance_window", type: "varchar", length: "512", isNullable: true }),
      new TableColumn({ name: "maintenance_time_zone", type: "varchar", length: "64", isNullable: true }),
      // Null means on: rows written before this migration renew automatically like new ones.
      new TableColumn({ name: "auto_renew", type: "boolean", isNullable: true }),
    ]);
    await q.createIndex("push_jobs", new TableIndex({ name: "ix_push_jobs_due", columnNames: ["state", "next_attempt_at"] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex("push_jobs", "ix_push_jobs_due");
    await q.dropColumns("push_settings", ["maintenance_window", "maintenance_time_zone", "auto_renew"]);
  }
}
