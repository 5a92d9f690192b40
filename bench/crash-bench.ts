/**
 * Crash-consistency benchmark: the full run of test/e2e/crash-consistency.test.ts. The built
 * `opcua-gds start` (a child process) is killed with SIGKILL at random moments while `--clients`
 * sessions issue `--count` certificates (registering an application and sending its CSR each time)
 * and an administrator revokes some, and restarted after each kill on the same folder and database.
 * Then every certificate a client received is looked up in the database (row with the same DER,
 * Accepted request, CertificateIssued audit record), serials are checked for repeats, the CRL numbers
 * published over the whole run for going back, and the database for integrity (SQLite
 * integrity_check; PostgreSQL amcheck over every index and table).
 *
 *   node dist/bench/crash-bench.js [--backend sqlite|postgres] [--count N] [--clients N] [--kills N]
 *
 * Prints a table and, as its last line, every figure as one JSON object; exits 1 when a check failed.
 */
import os from "node:os";
import util from "node:util";
import { runCrashScenario, type CrashReport } from "../test/helpers/crash-scenario";
import { BACKENDS, type Backend } from "../test/helpers/databases";
import { killChildren } from "../test/helpers/cli";
import { log, median, parseBenchArgs, renderTable, reportJson, runBackends, runMain, totalLine, type Row } from "./bench-kit";

interface Options {
  backends: Backend[];
  count: number;
  clients: number;
  kills: number;
}

function parseArgs(argv: string[]): Options {
  return parseBenchArgs(
    "crash-bench",
    argv,
    { backends: [...BACKENDS], count: 1000, clients: 16, kills: 10 },
    {
      "--count": { key: "count", valid: (n) => n >= 10, rule: "an integer of at least 10" },
      "--clients": { key: "clients", valid: (n) => n >= 1 && n <= 64, rule: "an integer from 1 to 64" },
      "--kills": { key: "kills", valid: (n) => n >= 1 && n <= 100, rule: "an integer from 1 to 100" },
    },
  );
}

function table(results: CrashReport[]): string {
  const rows: Array<Row<CrashReport>> = [
    ["certificates received by clients", (r) => `${r.received}`],
    ["SIGKILLs / sessions cut by them", (r) => `${r.kills} / ${r.interruptedSessions}`],
    ["restart after a kill, median / max, ms", (r) => `${median(r.restartMs)} / ${Math.max(...r.restartMs)}`],
    ["revocations answered Good / cut by a kill", (r) => `${r.revocationsAnswered} / ${r.revocationsUnknown}`],
    ["CRL numbers published (first..last, count)", (r) => `${r.crlNumbers[0] ?? "-"}..${r.crlNumbers[r.crlNumbers.length - 1] ?? "-"} (${r.crlNumbers.length})`],
    ["rows: certificates / requests / audit", (r) => `${r.rows.certificates} / ${r.rows.requests} / ${r.rows.audit}`],
    ["  signed but never received (cut by a kill)", (r) => `${r.rows.certificates - r.received}`],
    ["integrity", (r) => r.integrity],
    ["problems found", (r) => `${r.problems.length}`],
    ["run, s", (r) => `${r.seconds}`],
  ];
  return renderTable(results, rows);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  // node-opcua writes its warnings with console.log: stdout is kept for the report.
  for (const level of ["log", "info", "warn", "debug"] as const) console[level] = (...args: unknown[]) => void process.stderr.write(`${util.format(...args)}\n`);
  process.once("exit", killChildren);
  const { results, clock } = await runBackends(options.backends, (backend) => runCrashScenario({ backend, total: options.count, workers: options.clients, kills: options.kills, log }));
  const out: string[] = [];
  out.push(`opcua-gds crash-consistency benchmark: node ${process.version}, ${os.cpus().length} CPUs; ${options.count} issuances by ${options.clients} sessions, ${options.kills} SIGKILLs of the built \`opcua-gds start\` at random moments, restarted each time`);
  out.push("");
  out.push(table(results));
  for (const r of results) for (const p of r.problems.slice(0, 20)) out.push(`${r.backend}: ${p}`);
  out.push(totalLine(clock));
  process.stdout.write(`${out.join("\n")}\n`);
  process.stdout.write(`${reportJson("crash", { count: options.count, clients: options.clients, kills: options.kills }, clock, results)}\n`);
  if (results.some((r) => r.problems.length > 0)) throw new Error("crash consistency checks failed (see the problems above)");
}

runMain("crash-bench", main);
