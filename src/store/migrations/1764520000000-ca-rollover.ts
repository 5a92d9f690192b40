import { Table, type MigrationInterface, type QueryRunner } from "typeorm";

/** CRLs of CAs superseded by a rollover (`opcua-gds ca renew`), kept until they retire. */
export class CaRollover1764520000000 implements MigrationInterface {
  name = "CaRollover1764520000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "previous_ca_crls",
        columns: [
          { name: "group_name", type: "varchar", length: "64", isPrimary: true },
          { name: "certificate_type", type: "varchar", length: "64", isPrimary: true },
          { name: "ca_serial", type: "varchar", length: "64", isPrimary: true },
          { name: "crl_number", type: "bigint" },
          { name: "crl", type: "text" },
          { name: "crl_this_update", type: "bigint" },
          { name: "crl_next_update", type: "bigint" },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("previous_ca_crls");
  }
}
