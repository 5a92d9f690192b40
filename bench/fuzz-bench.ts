/**
 * Hostile-input benchmark: the cases of test/integration/hostile-input.test.ts by the ten thousand.
 * The built `opcua-gds start` runs as a child process (so that its memory is its own); `--clients`
 * SignAndEncrypt sessions of a CA administrator send `--cases` generated cases to every method of the
 * Directory, the approval desk and the TrustList files, then `--cases / 10` trust-list read scenarios
 * checked byte for byte. Reports, per method, the answers by status, the cases that broke a rule
 * (BadInternalError, a malformed Good, a lost connection), the rate, and the server's resident memory
 * before, after each method and at the end.
 *
 *   node dist/bench/fuzz-bench.js [--backend sqlite|postgres] [--cases N] [--clients N] [--seed N]
 *
 * Default: SQLite, 10,000 cases per method, 4 sessions. Exits 1 when a rule was broken or the
 * server went down.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import util from "node:util";
import fc from "fast-check";
import type { ClientSession } from "node-opcua";
import { killChildren, startServer, stopServer, withDirectory } from "../test/helpers/cli";
import { createTestDatabase, type Backend } from "../test/helpers/databases";
import { callCase, callPlans, fileScenarios, gdsTargets, isConnectionLoss, makePools, runFileScenario, Tally, type CallPlan, type FuzzMethod, type FuzzPools } from "../test/helpers/fuzz";
import { tempDir } from "../test/helpers/gds-fixture";
import { log, mib, parseBenchArgs, reportJson, round, runBackends, runMain, totalLine } from "./bench-kit";

interface Options {
  backends: Backend[];
  cases: number;
  clients: number;
  seed: number;
}

function parseArgs(argv: string[]): Options {
  return parseBenchArgs(
    "fuzz-bench",
    argv,
    { backends: ["sqlite"], cases: 10_000, clients: 4, seed: Date.now() % 1_000_000 },
    {
      "--cases": { key: "cases", valid: (n) => n >= 10, rule: "an integer of at least 10" },
      "--clients": { key: "clients", valid: (n) => n >= 1 && n <= 32, rule: "an integer from 1 to 32" },
      "--seed": { key: "seed", valid: (n) => n >= 0, rule: "a non-negative integer" },
    },
  );
}

const ADMIN_PASSWORD = "admin-fuzz-bench-password";
const ADMIN = { userName: "admin", password: ADMIN_PASSWORD };
/** Cases generated at a time (a case may hold an array of 60,000 strings: not all at once). */
const BATCH = 50;

/** Resident memory of a process, bytes (Linux /proc). */
async function rssOf(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 0) * 1024;
}

interface MethodFigures {
  method: string;
  cases: number;
  good: number;
  statuses: Record<string, number>;
  broken: number;
  perSecond: number;
  rssAfterMiB: number;
}

interface BackendFigures {
  backend: Backend;
  methods: MethodFigures[];
  rss: { startMiB: number; afterSetupMiB: number; peakMiB: number; endMiB: number };
  problems: string[];
  serverUpAtEnd: boolean;
  seconds: number;
}

/** Runs `count` cases of `method` on `clients` sessions that reconnect when a case cost them theirs. */
async function fuzzMethod(endpointUrl: string, dataDir: string, roots: string[], pools: FuzzPools, method: FuzzMethod, count: number, seed: number, tally: Tally): Promise<void> {
  const arbitrary = callPlans(method, pools);
  let next = 0;
  let batch: CallPlan[] = [];
  let batchIndex = 0;
  const take = (): CallPlan | null => {
    if (next >= count) return null;
    if (batch.length === 0) batch = fc.sample(arbitrary, { numRuns: Math.min(BATCH, count - next), seed: seed + batchIndex++ });
    next++;
    return batch.pop() ?? null;
  };
  await Promise.all(
    roots.map(async (root) => {
      while (next < count) {
        try {
          await withDirectory(endpointUrl, dataDir, root, ADMIN, async (d) => {
            for (let plan = take(); plan; plan = take()) {
              const outcome = await callCase(d.session, pools, method, plan);
              tally.add(method.name, outcome);
              if (outcome.status === "connection-lost") throw new Error(outcome.problem ?? "connection lost");
            }
          });
        } catch (e) {
          if (!isConnectionLoss(e) && !/connection lost|Fail to connect/.test(String((e as Error).message))) throw e;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }),
  );
}

async function runBackend(backend: Backend, options: Options): Promise<BackendFigures> {
  const started = performance.now();
  const dataDir = path.join(await tempDir(`fuzz-${backend}`), "data");
  const database = await createTestDatabase(backend);
  const args = ["--data", dataDir, ...(database.url ? ["--db", database.url] : []), "--port", "0", "--host", "127.0.0.1"];
  const server = await startServer(args, { env: { OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD } });
  const pid = server.child.pid!;
  const roots = await Promise.all(Array.from({ length: options.clients }, () => tempDir("fuzz-client")));
  const tally = new Tally();
  const methods: MethodFigures[] = [];
  let peak = 0;
  const sampleRss = async () => {
    const rss = await rssOf(pid);
    peak = Math.max(peak, rss);
    return rss;
  };
  const rssStart = await sampleRss();
  try {
    const { pools, targets } = await withDirectory(server.endpointUrl, dataDir, roots[0], ADMIN, async (d) => ({ pools: await makePools(d, backend), targets: await gdsTargets(d.session as ClientSession) }));
    const rssAfterSetup = await sampleRss();
    const all = [...targets.directory, ...targets.desk, ...targets.trustListMethods];
    for (const [i, method] of all.entries()) {
      const t0 = performance.now();
      await fuzzMethod(server.endpointUrl, dataDir, roots, pools, method, options.cases, options.seed + i * 100_000, tally);
      const seconds = (performance.now() - t0) / 1000;
      const byStatus = Object.fromEntries(tally.counts.get(method.name) ?? []);
      const rss = await sampleRss();
      methods.push({ method: method.name, cases: tally.total(method.name), good: byStatus.Good ?? 0, statuses: byStatus, broken: 0, perSecond: round(options.cases / seconds), rssAfterMiB: mib(rss) });
      log(`[${backend}] ${method.name}: ${options.cases} cases in ${seconds.toFixed(1)} s, RSS ${mib(rss)} MiB`);
    }
    const scenarios = Math.max(10, Math.floor(options.cases / 10));
    const t0 = performance.now();
    await withDirectory(server.endpointUrl, dataDir, roots[0], ADMIN, async (d) => {
      for (let done = 0, b = 0; done < scenarios; b++) {
        for (const scenario of fc.sample(fileScenarios(), { numRuns: Math.min(BATCH, scenarios - done), seed: options.seed + 7_000_000 + b })) {
          await runFileScenario(d.session, targets.trustLists, scenario, tally);
          done++;
        }
      }
    });
    log(`[${backend}] ${scenarios} trust-list read scenarios in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const [name, byStatus] of tally.counts) {
      if (!name.startsWith("TrustList.")) continue;
      const statuses = Object.fromEntries(byStatus);
      methods.push({ method: `${name} (scenarios)`, cases: tally.total(name), good: statuses.Good ?? 0, statuses, broken: 0, perSecond: 0, rssAfterMiB: mib(await sampleRss()) });
    }
    for (const m of methods) m.broken = tally.problems.filter((p) => p.startsWith(`${m.method.replace(" (scenarios)", "")}`)).length;
    const serverUpAtEnd = await withDirectory(server.endpointUrl, dataDir, roots[0], ADMIN, (d) => d.queryApplications({ maxRecordsToReturn: 1 }).then(() => true)).catch(() => false);
    const rssEnd = await sampleRss();
    return {
      backend,
      methods,
      rss: { startMiB: mib(rssStart), afterSetupMiB: mib(rssAfterSetup), peakMiB: mib(peak), endMiB: mib(rssEnd) },
      problems: tally.problems,
      serverUpAtEnd,
      seconds: round((performance.now() - started) / 1000),
    };
  } finally {
    if (server.child.exitCode === null) await stopServer(server).catch(() => server.child.kill("SIGKILL"));
    await database.drop();
    await Promise.all([...roots, path.dirname(dataDir)].map((r) => fs.rm(r, { recursive: true, force: true })));
  }
}

function table(r: BackendFigures): string {
  const header = ["method", "cases", "Good", "broken", "cases/s", "RSS MiB", "most frequent answers"];
  const rows = r.methods.map((m) => [
    m.method,
    String(m.cases),
    String(m.good),
    String(m.broken),
    m.perSecond ? String(m.perSecond) : "-",
    String(m.rssAfterMiB),
    Object.entries(m.statuses)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([s, n]) => `${s} ${n}`)
      .join(", "),
  ]);
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((row) => row[c].length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 || c === 6 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("   ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("   "), ...rows.map(line)].join("\n");
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  // node-opcua writes its warnings with console.log: stdout is kept for the report.
  for (const level of ["log", "info", "warn", "debug"] as const) console[level] = (...args: unknown[]) => void process.stderr.write(`${util.format(...args)}\n`);
  process.once("exit", killChildren);
  const { results, clock } = await runBackends(options.backends, (backend) => runBackend(backend, options));
  const out: string[] = [];
  out.push(`opcua-gds hostile-input benchmark: node ${process.version}, ${os.cpus().length} CPUs; ${options.cases} cases per method on ${options.clients} SignAndEncrypt sessions of a CA administrator, seed ${options.seed}; the built \`opcua-gds start\` as a child process`);
  for (const r of results) {
    out.push("");
    out.push(`${r.backend}: ${r.seconds} s; server RSS ${r.rss.startMiB} MiB at start, ${r.rss.afterSetupMiB} after setup, ${r.rss.peakMiB} peak, ${r.rss.endMiB} at the end; server answering at the end: ${r.serverUpAtEnd ? "yes" : "NO"}`);
    out.push(table(r));
    for (const p of r.problems.slice(0, 20)) out.push(`  broken: ${p.slice(0, 300)}`);
  }
  out.push(totalLine(clock));
  process.stdout.write(`${out.join("\n")}\n`);
  process.stdout.write(`${reportJson("fuzz", { cases: options.cases, clients: options.clients, seed: options.seed }, clock, results)}\n`);
  if (results.some((r) => r.problems.length > 0 || !r.serverUpAtEnd)) throw new Error("hostile input broke a rule (see above)");
}

runMain("fuzz-bench", main);
