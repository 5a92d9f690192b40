import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * QueryApplications and FindApplications-by-name filter on the first ApplicationName with SQL LIKE
 * (case-sensitive on both backends). Without an index a pattern with a literal prefix ("PLC 42%")
 * read the applications in record order until it had a page: at 100,000 applications 12 ms and
 * more for a pattern that matches a few. An index on the name answers such a prefix as a range. On
 * PostgreSQL the index uses text_pattern_ops, which LIKE can use under any database collation.
 * SQLite's planner weighs the range against reading in record order from its statistics: they are
 * gathered here for an existing directory, and refreshed with PRAGMA optimize when the server starts.
 */
export class ApplicationNameIndex1764700000000 implements MigrationInterface {
  name = "ApplicationNameIndex1764700000000";

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === "postgres") {
      await q.query("CREATE INDEX ix_applications_default_name ON applications (default_name text_pattern_ops)");
    } else {
      await q.query("CREATE INDEX ix_applications_default_name ON applications (default_name)");
      await q.query("ANALYZE applications");
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query("DROP INDEX ix_applications_default_name");
  }
}
