/**
 * Scale benchmark: the GDS with 100,000 registered applications, the server alone in its own process
 * (`opcua-gds start`), clients in this one. Measures start-up time and RSS with that directory,
 * RegisterApplication throughput, FindApplications / QueryApplications / QueryServers latency, and
 * RSS under a mixed load, on SQLite and PostgreSQL.
 *
 *   node dist/bench/scale-bench.js [--backend sqlite|postgres] [--apps N]
 *
 * The directory is filled by bulk INSERTs into the applications table (the GDS's own column mapping,
 * record ids in order, the record counter set to match), not through RegisterApplication: filling
 * 100,000 records over OPC UA would measure the filling. Everything timed goes over OPC UA
 * (SignAndEncrypt Basic256Sha256, user "admin") against the child server.
 *
 * Prints a plain table on stdout and, as its last line, every figure as one JSON object.
 */
import "reflect-metadata";
import { randomUUID } from "node:crypto";
import os from "node:os";
import { performance } from "node:perf_hooks";
import util from "node:util";
import { ApplicationEntity } from "../src/store/entities/application-entity";
import { CounterEntity } from "../src/store/entities/counter-entity";
import { RECORD_COUNTER, toColumns } from "../src/store/application-repository";
import type { Backend } from "../test/helpers/databases";
import { withDirectory } from "../test/helpers/opcua-client";
import { serverRecord } from "../test/helpers/records";
import {
  ADMIN,
  concurrent,
  latencyOf,
  launch,
  log,
  mib,
  parseBenchArgs,
  renderTable,
  reportJson,
  round,
  runBackends,
  runMain,
  sequential,
  spawnGds,
  stopServer,
  throughput,
  totalLine,
  withBackend,
  type Latency,
  type Row,
  type SpawnedGds,
  type Throughput,
} from "./bench-kit";

interface Options {
  backends: Backend[];
  apps: number;
}

const IN_FLIGHT = 16;
const REPEATS = 3;
const LATENCY_CALLS = 500;
const LOAD_SECONDS = 10;
const FILL_BATCH = 500;
/** Targets of the scale-out issue on these 2-core machines. */
const TARGETS = { registrationsPerSecond: 2000, queryP99Ms: 20, rssMiB: 250, startupMs: 3000 };

function parseArgs(argv: string[]): Options {
  return parseBenchArgs("scale-bench", argv, { backends: ["sqlite", "postgres"], apps: 100_000 }, { "--apps": { key: "apps", valid: (n) => n >= 1000, rule: "an integer of at least 1000" } });
}

interface BackendFigures {
  backend: Backend;
  apps: number;
  fillSeconds: number;
  startup: { runsMs: number[]; medianMs: number };
  rss: { idleMiB: number; underLoadMaxMiB: number; hwmMiB: number; loadCallsPerSecond: number };
  register: Throughput;
  latencyMs: { findApplications: Latency; queryApplicationsOneUri: Latency; queryApplicationsPage100: Latency; queryApplicationsNamePattern: Latency; queryServers: Latency };
  targets: { registrations: boolean; queryP99: boolean; rss: boolean; startup: boolean };
}

/** Bulk-loads applications 1..n (serverRecord) with record ids 1..n and sets the record counter to n. */
async function fillApplications(run: Parameters<Parameters<typeof withBackend>[1]>[0], n: number): Promise<number> {
  const { gds } = await launch(run);
  const ds = gds.gds.services.db.dataSource;
  const t0 = performance.now();
  const now = Date.now();
  for (let first = 1; first <= n; first += FILL_BATCH) {
    const rows: Partial<ApplicationEntity>[] = [];
    for (let i = first; i < Math.min(first + FILL_BATCH, n + 1); i++) {
      rows.push({ ...toColumns(serverRecord(i)), id: randomUUID(), recordId: i, createdAtMs: now, updatedAtMs: now });
    }
    await ds.transaction((m) => m.insert(ApplicationEntity, rows));
    if (first % 20_000 === 1) log(`${run.backend}: ${first - 1 + rows.length} of ${n} applications loaded`);
  }
  await ds.manager.update(CounterEntity, { name: RECORD_COUNTER }, { value: n });
  if (run.backend === "postgres") await ds.query("ANALYZE applications");
  const seconds = (performance.now() - t0) / 1000;
  await stopServer(run);
  return seconds;
}

async function runBackend(backend: Backend, options: Options): Promise<BackendFigures> {
  return withBackend(backend, async (run) => {
    log(`${backend}: creating the data folder and loading ${options.apps} applications`);
    const fillSeconds = await fillApplications(run, options.apps);

    // Start-up with the full directory: three starts of the child, the last one stays up.
    const startupRuns: number[] = [];
    let server: SpawnedGds | null = null;
    for (let i = 0; i < 3; i++) {
      await server?.stop();
      server = await spawnGds(run);
      startupRuns.push(round(server.listeningMs));
      log(`${backend}: start ${i + 1}/3 took ${server.listeningMs.toFixed(0)} ms`);
    }
    const gds = server!;
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const idleKb = await gds.rssKb();

      const figures = await withDirectory(gds.testGds, ADMIN, async (d) => {
        let next = options.apps + 1;
        const register = () => d.registerApplication(serverRecord(next++));
        const pick = (i: number) => ((i * 7919) % options.apps) + 1;
        // Warm-up.
        for (let i = 0; i < 50; i++) await d.findApplications(serverRecord(pick(i)).applicationUri);
        await concurrent(100, IN_FLIGHT, register);

        const regRuns: number[] = [];
        for (let rep = 0; rep < REPEATS; rep++) regRuns.push((await concurrent(2000, IN_FLIGHT, register)).perSecond);

        log(`${backend}: lookup latency (${LATENCY_CALLS} sequential calls each)`);
        const find = await sequential(LATENCY_CALLS, async (i) => {
          const uri = serverRecord(pick(i)).applicationUri;
          const found = await d.findApplications(uri);
          if (found.length !== 1) throw new Error(`FindApplications(${uri}) returned ${found.length} records`);
        });
        const queryOne = await sequential(LATENCY_CALLS, async (i) => {
          const uri = serverRecord(pick(i + 1)).applicationUri;
          const r = await d.queryApplications({ applicationUri: uri });
          if (r.applications.length !== 1) throw new Error(`QueryApplications(${uri}) returned ${r.applications.length} records`);
        });
        const queryPage = await sequential(LATENCY_CALLS, async (i) => {
          const r = await d.queryApplications({ startingRecordId: pick(i), maxRecordsToReturn: 100 });
          if (r.applications.length === 0) throw new Error("QueryApplications page returned no records");
        });
        // A name pattern that matches a few records (PLC 4242, PLC 42420..): a range of the name index (it scanned before that index).
        const matching = Array.from({ length: next - 1 }, (_, i) => `PLC ${i + 1}`).filter((name) => name.startsWith("PLC 4242")).length;
        const queryName = await sequential(100, async () => {
          const r = await d.queryApplications({ applicationName: "PLC 4242%", maxRecordsToReturn: 100 });
          if (r.applications.length !== matching) throw new Error(`QueryApplications(name PLC 4242%) returned ${r.applications.length} records, not ${matching}`);
        });
        const queryServers = await sequential(LATENCY_CALLS, async (i) => {
          const r = await d.queryServers({ startingRecordId: pick(i), maxRecordsToReturn: 10 });
          if (r.servers.length === 0) throw new Error("QueryServers returned no servers");
        });

        log(`${backend}: RSS under a mixed load for ${LOAD_SECONDS} s`);
        let maxKb = 0;
        const sampler = setInterval(() => void gds.rssKb().then((kb) => (maxKb = Math.max(maxKb, kb)), () => undefined), 200);
        let calls = 0;
        const until = performance.now() + LOAD_SECONDS * 1000;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: IN_FLIGHT }, async (_, w) => {
            for (let i = w; performance.now() < until; i += IN_FLIGHT) {
              if (i % 4 === 0) await register();
              else if (i % 4 === 1) await d.findApplications(serverRecord(pick(i)).applicationUri);
              else if (i % 4 === 2) await d.queryApplications({ startingRecordId: pick(i), maxRecordsToReturn: 100 });
              else await d.getApplication((await d.findApplications(serverRecord(pick(i)).applicationUri))[0].applicationId);
              calls++;
            }
          }),
        );
        clearInterval(sampler);
        const loadCallsPerSecond = (calls * 1000) / (performance.now() - t0);
        maxKb = Math.max(maxKb, await gds.rssKb());
        return {
          register: throughput(regRuns),
          latencyMs: {
            findApplications: latencyOf(find.latencies),
            queryApplicationsOneUri: latencyOf(queryOne.latencies),
            queryApplicationsPage100: latencyOf(queryPage.latencies),
            queryApplicationsNamePattern: latencyOf(queryName.latencies),
            queryServers: latencyOf(queryServers.latencies),
          },
          loadCallsPerSecond: round(loadCallsPerSecond),
          maxKb,
        };
      });
      const hwmKb = await gds.hwmKb();
      const startupMedian = [...startupRuns].sort((a, b) => a - b)[1];
      const worstQueryP99 = Math.max(figures.latencyMs.queryApplicationsOneUri.p99, figures.latencyMs.queryApplicationsPage100.p99);
      return {
        backend,
        apps: options.apps,
        fillSeconds: round(fillSeconds),
        startup: { runsMs: startupRuns, medianMs: startupMedian },
        rss: { idleMiB: mib(idleKb * 1024), underLoadMaxMiB: mib(figures.maxKb * 1024), hwmMiB: mib(hwmKb * 1024), loadCallsPerSecond: figures.loadCallsPerSecond },
        register: figures.register,
        latencyMs: figures.latencyMs,
        targets: {
          registrations: figures.register.median >= TARGETS.registrationsPerSecond,
          queryP99: worstQueryP99 <= TARGETS.queryP99Ms,
          rss: hwmKb / 1024 <= TARGETS.rssMiB,
          startup: startupMedian <= TARGETS.startupMs,
        },
      };
    } finally {
      await gds.stop();
    }
  });
}

function table(results: BackendFigures[]): string {
  const ok = (b: boolean) => (b ? "met" : "NOT met");
  const lat = (l: Latency) => `${l.p50} / ${l.p99}`;
  const rows: Array<Row<BackendFigures>> = [
    ["applications (bulk-loaded), load time", (r) => `${r.apps}, ${r.fillSeconds} s`],
    ["start-up with them, spawn to listening, ms (3 runs)", (r) => `${r.startup.medianMs} (${r.startup.runsMs.join(", ")})`],
    [`  target <= ${TARGETS.startupMs} ms`, (r) => ok(r.targets.startup)],
    ["RSS idle after start, MiB", (r) => `${r.rss.idleMiB}`],
    [`RSS max under mixed load (${IN_FLIGHT} in flight, ${LOAD_SECONDS} s), MiB`, (r) => `${r.rss.underLoadMaxMiB} (${r.rss.loadCallsPerSecond} calls/s)`],
    ["peak RSS (VmHWM) of the whole run, MiB", (r) => `${r.rss.hwmMiB}`],
    [`  target <= ${TARGETS.rssMiB} MiB`, (r) => ok(r.targets.rss)],
    [`RegisterApplication, ${IN_FLIGHT} in flight, calls/s`, (r) => `${r.register.median} (${r.register.runs.join(", ")})`],
    [`  target >= ${TARGETS.registrationsPerSecond}/s`, (r) => ok(r.targets.registrations)],
    ["FindApplications p50 / p99, ms", (r) => lat(r.latencyMs.findApplications)],
    ["QueryApplications one URI p50 / p99, ms", (r) => lat(r.latencyMs.queryApplicationsOneUri)],
    ["QueryApplications page of 100 p50 / p99, ms", (r) => lat(r.latencyMs.queryApplicationsPage100)],
    ["QueryApplications name prefix pattern p50 / p99, ms", (r) => lat(r.latencyMs.queryApplicationsNamePattern)],
    ["QueryServers page of 10 p50 / p99, ms", (r) => lat(r.latencyMs.queryServers)],
    [`  target QueryApplications p99 <= ${TARGETS.queryP99Ms} ms`, (r) => ok(r.targets.queryP99)],
  ];
  return renderTable(results, rows);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  for (const level of ["log", "info", "warn", "debug"] as const) console[level] = (...args: unknown[]) => void process.stderr.write(`${util.format(...args)}\n`);
  const { results, clock } = await runBackends(options.backends, (backend) => runBackend(backend, options));
  const out: string[] = [];
  out.push(`opcua-gds scale benchmark: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? "?"}), ${os.platform()}`);
  out.push(
    `server: \`opcua-gds start\` in a child process (RSS from /proc/<pid>/status); clients: one SignAndEncrypt session of "admin" in this process; ` +
      `throughput: median of ${REPEATS} runs of 2000 calls; latencies: ${LATENCY_CALLS} sequential calls (the name pattern: 100).`,
  );
  out.push("");
  out.push(table(results));
  out.push("");
  out.push(totalLine(clock));
  process.stdout.write(`${out.join("\n")}\n`);
  process.stdout.write(`${reportJson("scale", { apps: options.apps, inFlight: IN_FLIGHT, repeats: REPEATS, targets: TARGETS }, clock, results)}\n`);
}

runMain("scale-bench", main);
