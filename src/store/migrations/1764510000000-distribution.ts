import { Table, type MigrationInterface, type QueryRunner } from "typeorm";

/**
 * What the GDS last pushed to each server and what drift checks saw (SQLite and PostgreSQL alike),
 * filled from the push jobs that succeeded before this table existed.
 */
export class Distribution1764510000000 implements MigrationInterface {
  name = "Distribution1764510000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "pushed_state",
        columns: [
          { name: "application_id", type: "varchar", length: "36", isPrimary: true },
          { name: "trust_list_digest", type: "varchar", length: "64", isNullable: true },
          { name: "trust_list_written_at", type: "bigint", isNullable: true },
          { name: "certificate_serial", type: "varchar", length: "64", isNullable: true },
          { name: "certificate_thumbprint", type: "varchar", length: "64", isNullable: true },
          { name: "certificate_written_at", type: "bigint", isNullable: true },
          { name: "drift_state", type: "varchar", length: "16", isNullable: true },
          { name: "drift_checked_at", type: "bigint", isNullable: true },
          { name: "drift_detail", type: "text", isNullable: true },
          { name: "observed_trust_list_digest", type: "varchar", length: "64", isNullable: true },
          { name: "presented_thumbprint", type: "varchar", length: "64", isNullable: true },
          { name: "updated_at", type: "bigint" },
        ],
      }),
    );
    const jobs = (await q.query(
      `SELECT j.application_id, j.operation, j.trust_list_digest, j.issued_serial, j.finished_at, c.thumbprint
         FROM push_jobs j LEFT JOIN issued_certificates c ON c.serial = j.issued_serial
        WHERE j.state = 'succeeded' ORDER BY j.finished_at`,
    )) as Array<{ application_id: string; operation: string; trust_list_digest: string | null; issued_serial: string | null; finished_at: string | number | null; thumbprint: string | null }>;
    const rows = new Map<string, Record<string, unknown>>();
    for (const j of jobs) {
      const at = j.finished_at === null ? 0 : Number(j.finished_at);
      const row = rows.get(j.application_id) ?? { application_id: j.application_id, trust_list_digest: null, trust_list_written_at: null, certificate_serial: null, certificate_thumbprint: null, certificate_written_at: null, updated_at: at };
      if (j.operation !== "cert" && j.trust_list_digest) Object.assign(row, { trust_list_digest: j.trust_list_digest, trust_list_written_at: at });
      if (j.operation !== "trustlist" && j.issued_serial) Object.assign(row, { certificate_serial: j.issued_serial, certificate_thumbprint: j.thumbprint, certificate_written_at: at });
      row.updated_at = at;
      rows.set(j.application_id, row);
    }
    const columns = ["application_id", "trust_list_digest", "trust_list_written_at", "certificate_serial", "certificate_thumbprint", "certificate_written_at", "updated_at"];
    for (const row of rows.values()) {
      const [sql, parameters] = q.connection.driver.escapeQueryWithParameters(`INSERT INTO pushed_state (${columns.join(", ")}) VALUES (${columns.map((c) => `:${c}`).join(", ")})`, row);
      await q.query(sql, parameters);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("pushed_state");
  }
}
