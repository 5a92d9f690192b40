import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * QueryApplications and QueryServers filter on the first ApplicationName with SQL LIKE
 * (case-sensitive on both backends). Without an index a pattern with a literal prefix ("PLC 42%")
 * read the applications in record order until it had a page: at 100,000 applications 12 ms and
 * more for a pattern that matches a few. An index on the name answers such a prefix as a range. On
 * PostgreSQL the index uses text_pattern_ops, which LIKE can use under any database collation, and
 * the planner weighs the range against reading in record order from the statistics autovacuum keeps.
 * SQLite is left without statistics on purpose: then it takes the range for every literal prefix
 * (0.1 ms for a few matches, about 30 ms for a prefix every one of 100,000 names shares), whereas
 * statistics gathered while the directory was small would keep it reading in record order.
 */
export class ApplicationNameIndex1764700000000 implements MigrationInterface {
  name = "ApplicationNameIndex1764700000000";

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === "postgres") {
      await q.query("CREATE INDEX ix_applications_default_name ON applications (default_name text_pattern_ops)");
    } else {
      await q.query("CREATE INDEX ix_applications_default_name ON applications (default_name)");
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query("DROP INDEX ix_applications_default_name");
  }
}
