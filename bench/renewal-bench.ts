/**
 * Renewal planning benchmark: which applications need a new certificate now, over 1,000,000
 * issued-certificate rows, on SQLite and PostgreSQL: the query the scheduler's renewal task runs
 * every tick (CertificateStore.dueForRenewal through CertificateService.renewalCandidates).
 *
 *   node dist/bench/renewal-bench.js [--backend sqlite|postgres] [--rows N]
 *
 * The table is filled by bulk INSERTs (not timed): rows/2 applications with two unexpired
 * certificates each, as a fleet looks a little after a renewal round: the replaced one (renewal time
 * passed, still valid, superseded) and the current one. Among the current ones 1 % have reached their renewal
 * time, 0.2 % are revoked and 0.2 % were signed by a former CA. Every row carries a DER-sized base64
 * text, so a plan that reads rows pays what it would in the field. Baseline in the same run:
 * reading the planning columns of every row (what a planner in JavaScript would start with). The answer is checked against the applications made due.
 *
 * Prints a plain table on stdout and, as its last line, every figure as one JSON object.
 */
import "reflect-metadata";
import { X509Certificate, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { DEFAULT_APPLICATION_GROUP } from "../src/domain/certificate-groups";
import { IssuedCertificateEntity } from "../src/store/entities/issued-certificate-entity";
import type { Backend } from "../test/helpers/databases";
import { launch, log, median, parseBenchArgs, renderTable, reportJson, round, runBackends, runMain, shutDown, totalLine, withBackend, type Row } from "./bench-kit";

interface Options {
  backends: Backend[];
  rows: number;
}

const REPEATS = 5;
const BATCH = 1000;
const TARGET_SECONDS = 2;
const DAY = 86_400_000;
const GROUP = DEFAULT_APPLICATION_GROUP.name;
const TYPE = DEFAULT_APPLICATION_GROUP.certificateTypes[0].name;

function parseArgs(argv: string[]): Options {
  return parseBenchArgs("renewal-bench", argv, { backends: ["sqlite", "postgres"], rows: 1_000_000 }, { "--rows": { key: "rows", valid: (n) => n >= 1000, rule: "an integer of at least 1000" } });
}

interface BackendFigures {
  backend: Backend;
  rows: number;
  loadSeconds: number;
  due: number;
  planSeconds: number;
  planRuns: number[];
  readAllSeconds: number;
  ratioToReadAll: number;
  verified: boolean;
}

/** Which kind of current certificate application `i` holds. */
function kindOf(i: number): "due" | "revoked" | "old-ca" | "fine" {
  const r = i % 1000;
  if (r < 10) return "due";
  if (r < 12) return "revoked";
  if (r < 14) return "old-ca";
  return "fine";
}

async function runBackend(backend: Backend, options: Options): Promise<BackendFigures> {
  return withBackend(backend, async (run) => {
    const { gds } = await launch(run);
    const services = gds.gds.services;
    const ds = services.db.dataSource;
    // The serial of the CA that signs for the group now, as the issuance path records it.
    const caSerial = new X509Certificate(await fs.readFile(gds.caCertificateFile)).serialNumber.toLowerCase();
    const now = Date.now();
    const apps = Math.floor(options.rows / 2);
    const der = randomBytes(1100).toString("base64");
    const expected = new Set<string>();
    const ids: string[] = [];

    log(`${backend}: loading ${apps * 2} certificate rows for ${apps} applications`);
    const t0 = performance.now();
    for (let first = 0; first < apps; first += BATCH / 2) {
      const rows: Partial<IssuedCertificateEntity>[] = [];
      for (let i = first; i < Math.min(first + BATCH / 2, apps); i++) {
        const applicationId = `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
        ids.push(applicationId);
        const kind = kindOf(i);
        if (kind !== "fine") expected.add(applicationId);
        const base = { applicationId, applicationUri: `urn:plant:device${i}`, groupName: GROUP, certificateTypeName: TYPE, requestId: null, revocationReason: null, der };
        // Issued 320 days ago (before any current one), renewal time passed; still valid for 45 days.
        rows.push({ ...base, superseded: true, serialHex: randomBytes(16).toString("hex"), thumbprint: randomBytes(20).toString("hex"), issuerSerialHex: caSerial, notBeforeMs: now - 320 * DAY, notAfterMs: now + 45 * DAY, renewalAtMs: now - 77 * DAY, revokedAtMs: null });
        const issued = now - (kind === "due" ? 300 : 100) * DAY;
        rows.push({
          ...base,
          superseded: false,
          serialHex: randomBytes(16).toString("hex"),
          thumbprint: randomBytes(20).toString("hex"),
          issuerSerialHex: kind === "old-ca" ? "0badca" : caSerial,
          notBeforeMs: issued,
          notAfterMs: issued + 365 * DAY,
          renewalAtMs: issued + 243 * DAY,
          revokedAtMs: kind === "revoked" ? now - DAY : null,
        });
      }
      await insertRows(ds, backend, rows);
      if ((first / (BATCH / 2)) % 100 === 0) log(`${backend}: ${first * 2} rows`);
    }
    if (backend === "postgres") await ds.query("VACUUM ANALYZE issued_certificates");
    else await ds.query("ANALYZE");
    const loadSeconds = (performance.now() - t0) / 1000;

    log(`${backend}: planning, ${REPEATS} runs`);
    const planRuns: number[] = [];
    let due: string[] = [];
    for (let rep = 0; rep < REPEATS; rep++) {
      const t = performance.now();
      due = await services.certificates.renewalCandidates(GROUP, TYPE, ids);
      planRuns.push((performance.now() - t) / 1000);
    }
    const readAllRuns: number[] = [];
    for (let rep = 0; rep < REPEATS; rep++) {
      const t = performance.now();
      // What a planner that reads every row would start with.
      await ds.query("SELECT application_id, not_before, not_after, renewal_at, revoked_at, issuer_serial FROM issued_certificates");
      readAllRuns.push((performance.now() - t) / 1000);
    }
    const verified = due.length === expected.size && due.every((id) => expected.has(id));
    if (!verified) throw new Error(`planning found ${due.length} applications due, ${expected.size} were made due`);
    await shutDown(run);
    const planSeconds = median(planRuns);
    const readAllSeconds = median(readAllRuns);
    return {
      backend,
      rows: apps * 2,
      loadSeconds: round(loadSeconds),
      due: due.length,
      planSeconds: round(planSeconds, 3),
      planRuns: planRuns.map((s) => round(s, 3)),
      readAllSeconds: round(readAllSeconds, 3),
      ratioToReadAll: round(planSeconds / readAllSeconds, 2),
      verified,
    };
  });
}

const COLUMNS: Array<[string, keyof IssuedCertificateEntity]> = [
  ["superseded", "superseded"],
  ["serial", "serialHex"],
  ["thumbprint", "thumbprint"],
  ["application_id", "applicationId"],
  ["application_uri", "applicationUri"],
  ["group_name", "groupName"],
  ["certificate_type", "certificateTypeName"],
  ["issuer_serial", "issuerSerialHex"],
  ["request_id", "requestId"],
  ["not_before", "notBeforeMs"],
  ["not_after", "notAfterMs"],
  ["renewal_at", "renewalAtMs"],
  ["revoked_at", "revokedAtMs"],
  ["revocation_reason", "revocationReason"],
  ["der", "der"],
];

/** One multi-row INSERT (TypeORM's insert of entities costs more than the database does here). */
async function insertRows(ds: { query(sql: string, params: unknown[]): Promise<unknown> }, backend: Backend, rows: Partial<IssuedCertificateEntity>[]): Promise<void> {
  let n = 0;
  const values = rows.map(() => `(${COLUMNS.map(() => (backend === "postgres" ? `$${++n}` : "?")).join(", ")})`);
  // better-sqlite3 binds no booleans.
  const params = rows.flatMap((r) => COLUMNS.map(([, key]) => (typeof r[key] === "boolean" && backend === "sqlite" ? Number(r[key]) : (r[key] ?? null))));
  await ds.query(`INSERT INTO issued_certificates (${COLUMNS.map(([c]) => c).join(", ")}) VALUES ${values.join(", ")}`, params);
}

function table(results: BackendFigures[], rows: number): string {
  const lines: Array<Row<BackendFigures>> = [
    ["certificate rows (bulk-loaded), load time", (r) => `${r.rows}, ${r.loadSeconds} s`],
    ["applications due found (verified against the made-due set)", (r) => `${r.due} (${r.verified ? "exact" : "WRONG"})`],
    [`renewal planning over ${rows} rows, s (median of ${REPEATS})`, (r) => `${r.planSeconds}`],
    ["  runs", (r) => r.planRuns.join(", ")],
    ["baseline: reading the planning columns of every row, s", (r) => `${r.readAllSeconds}`],
    ["  ratio planning / reading every row", (r) => `${r.ratioToReadAll}`],
    [`target <= ${TARGET_SECONDS} s`, (r) => (r.planSeconds <= TARGET_SECONDS ? "met" : "NOT met")],
  ];
  return renderTable(results, lines);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const { results, clock } = await runBackends(options.backends, (b) => runBackend(b, options));
  const out = [
    `opcua-gds renewal planning benchmark: node ${process.version}, ${os.cpus().length} CPUs, ${os.platform()}; the renewal task's query (CertificateService.renewalCandidates) in process`,
    "",
    table(results, options.rows),
    "",
    totalLine(clock),
  ];
  process.stdout.write(`${out.join("\n")}\n`);
  process.stdout.write(`${reportJson("renewal", { rows: options.rows, repeats: REPEATS, targetSeconds: TARGET_SECONDS }, clock, results)}\n`);
}

runMain("renewal-bench", main);
