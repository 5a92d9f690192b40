import { Table, type MigrationInterface, type QueryRunner } from "typeorm";

/** Onboarding windows. */
export class Onboarding1764200000000 implements MigrationInterface {
  name = "Onboarding1764200000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "onboarding_windows",
        columns: [
          { name: "id", type: "integer", isPrimary: true, isGenerated: true, generationStrategy: "increment" },
          { name: "opened_at", type: "bigint" },
          { name: "closes_at", type: "bigint" },
          { name: "opened_by", type: "varchar", length: "256" },
          { name: "closed_at", type: "bigint", isNullable: true },
          { name: "closed_by", type: "varchar", length: "256", isNullable: true },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("onboarding_windows");
  }
}
