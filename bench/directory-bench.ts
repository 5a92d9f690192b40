/**
 * Directory benchmark: start-up, idle memory, RegisterApplication throughput, and lookup latency
 * with 10,000 registered applications, on SQLite and PostgreSQL, over SignAndEncrypt with a real
 * node-opcua client. A trivial Read on the same session is measured in the same run as a baseline.
 *
 *   node dist/bench/directory-bench.js [--backend sqlite|postgres] [--apps N]
 *
 * Prints a plain table on stdout and, as its last line, every figure as one JSON object. Progress
 * and server errors go to stderr.
 */
import "reflect-metadata";
import fs from "node:fs/promises";
import os from "node:os";
import v8 from "node:v8";
import vm from "node:vm";
import { AttributeIds, StatusCodes, type ClientSession } from "node-opcua";
import type { DirectoryClient } from "../src/client/directory-client";
import { BACKENDS, createTestDatabase, type Backend, type TestDatabase } from "../test/helpers/databases";
import { tempDir } from "../test/helpers/gds-fixture";
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
  shutDown,
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

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  backends: Backend[];
  apps: number;
}

function parseArgs(argv: string[]): Options {
  return parseBenchArgs("directory-bench", argv, { backends: [...BACKENDS], apps: 10_000 }, { "--apps": { key: "apps", valid: (n) => n >= 100, rule: "an integer of at least 100" } });
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers

const REPEATS = 3;
const IN_FLIGHT = 16;
const LATENCY_CALLS = 500;

let gc: (() => void) | null = null;
try {
  v8.setFlagsFromString("--expose-gc");
  gc = vm.runInNewContext("gc") as () => void;
} catch {
  gc = null;
}

// ---------------------------------------------------------------------------------------------
// Server under test

interface ChildFigures {
  spawnToListeningMs: number;
  vmRssMiB: number;
  vmHwmMiB: number;
  sigtermToExitMs: number;
  exitCode: number | null;
  signal: string | null;
}

/** The server alone: `opcua-gds start` in a child process on a fresh folder and database. */
async function measureChild(backend: Backend): Promise<ChildFigures> {
  const dataDir = await tempDir("bench-child");
  let database: TestDatabase | null = null;
  let child: SpawnedGds | null = null;
  try {
    database = await createTestDatabase(backend);
    child = await spawnGds({ dataDir, database, backend });
    const vmRss = await child.rssKb();
    const vmHwm = await child.hwmKb();
    const exit = await child.stop();
    return {
      spawnToListeningMs: round(child.listeningMs),
      vmRssMiB: round(vmRss / 1024),
      vmHwmMiB: round(vmHwm / 1024),
      sigtermToExitMs: round(exit.sigtermToExitMs),
      exitCode: exit.exitCode,
      signal: exit.signal,
    };
  } finally {
    await child?.stop();
    await database?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// One backend

interface BackendFigures {
  backend: Backend;
  startup: { freshMs: number; stopMs: number; restartMs: number };
  inProcess: { rssAfterStartMiB: number; heapUsedAfterStartMiB: number; rssAtEndMiB: number; heapUsedAtEndMiB: number };
  child: ChildFigures;
  counts: { sequential: number; inFlight: number; latencyCalls: number; registeredAtQuery: number };
  read: { sequential: Throughput; inFlight: Throughput; sequentialLatencyMs: Latency };
  register: { sequential: Throughput; inFlight: Throughput; sequentialLatencyMs: Latency; fill: { calls: number; perSecond: number } };
  ratio: { registerToReadSequential: number; registerToReadInFlight: number };
  latencyMs: { findApplications: Latency; queryApplicationsOneUri: Latency; queryApplicationsPage100: Latency };
  serverErrors: number;
}

async function readCurrentTime(session: ClientSession): Promise<void> {
  const dv = await session.read({ nodeId: "i=2258", attributeId: AttributeIds.Value });
  if (dv.statusCode.value !== StatusCodes.Good.value) throw new Error(`Read of i=2258 answered ${dv.statusCode.toString()}`);
}

async function runBackend(backend: Backend, apps: number): Promise<BackendFigures> {
  return withBackend(backend, async (run) => {
    // 1. start-up: fresh folder (init included), then a restart on the same folder and database.
    log(`${backend}: fresh start`);
    const fresh = await launch(run);
    gc?.();
    const afterStart = process.memoryUsage();
    const stopMs = await stopServer(run);
    log(`${backend}: restart on the existing folder`);
    const again = await launch(run);

    // Sizes: with 10,000 apps, 3 x (500 + 2000) registrations come from the throughput runs.
    const seqCount = Math.max(10, Math.min(500, Math.floor(apps * 0.05)));
    const inFlightCount = Math.max(20, Math.min(2000, Math.floor(apps * 0.2)));
    let nextApp = 1;
    const register = (d: DirectoryClient) => d.registerApplication(serverRecord(nextApp++));

    const figures = await withDirectory(
      again.gds,
      ADMIN,
      async (d, session) => {
        // Warm-up (JIT, pools, caches); the first RegisterApplication also makes the client read
        // the GDS data type definitions. Warm-up registrations count towards `apps`.
        for (let i = 0; i < 200; i++) await readCurrentTime(session);
        await concurrent(200, IN_FLIGHT, () => readCurrentTime(session));
        for (let i = 0; i < 50; i++) await register(d);
        await concurrent(100, IN_FLIGHT, () => register(d));

        const readSeq: number[] = [];
        const readPar: number[] = [];
        const regSeq: number[] = [];
        const regPar: number[] = [];
        let readLat: number[] = [];
        let regLat: number[] = [];
        for (let rep = 0; rep < REPEATS; rep++) {
          log(`${backend}: throughput run ${rep + 1}/${REPEATS} (${nextApp - 1} registered)`);
          const rs = await sequential(seqCount, () => readCurrentTime(session));
          readSeq.push(rs.perSecond);
          readLat = readLat.concat(rs.latencies);
          const gs = await sequential(seqCount, () => register(d));
          regSeq.push(gs.perSecond);
          regLat = regLat.concat(gs.latencies);
          readPar.push((await concurrent(inFlightCount, IN_FLIGHT, () => readCurrentTime(session))).perSecond);
          regPar.push((await concurrent(inFlightCount, IN_FLIGHT, () => register(d))).perSecond);
        }

        // Fill to `apps` registered applications.
        const rest = Math.max(0, apps - (nextApp - 1));
        log(`${backend}: filling ${rest} more to ${apps}`);
        const fillPerSecond = rest > 0 ? (await concurrent(rest, IN_FLIGHT, () => register(d))).perSecond : 0;
        const registered = nextApp - 1;

        // Lookups over the full directory; every answer is checked.
        log(`${backend}: lookup latency (${LATENCY_CALLS} sequential calls each)`);
        const pick = (i: number) => ((i * 7919) % registered) + 1;
        const find = await sequential(LATENCY_CALLS, async (i) => {
          const uri = serverRecord(pick(i)).applicationUri;
          const found = await d.findApplications(uri);
          if (found.length !== 1 || found[0].applicationUri !== uri) throw new Error(`FindApplications(${uri}) returned ${found.length} records`);
        });
        const queryOne = await sequential(LATENCY_CALLS, async (i) => {
          const uri = serverRecord(pick(i + 1)).applicationUri;
          const r = await d.queryApplications({ applicationUri: uri });
          if (r.applications.length !== 1 || r.applications[0].applicationUri !== uri) {
            throw new Error(`QueryApplications(ApplicationUri=${uri}) returned ${r.applications.length} records`);
          }
        });
        const queryPage = await sequential(LATENCY_CALLS, async () => {
          const r = await d.queryApplications({ startingRecordId: 0, maxRecordsToReturn: 100 });
          if (r.applications.length !== 100 || r.nextRecordId === 0) {
            throw new Error(`QueryApplications page returned ${r.applications.length} records, NextRecordId ${r.nextRecordId}`);
          }
        });

        return {
          read: { sequential: throughput(readSeq), inFlight: throughput(readPar), sequentialLatencyMs: latencyOf(readLat) },
          register: {
            sequential: throughput(regSeq),
            inFlight: throughput(regPar),
            sequentialLatencyMs: latencyOf(regLat),
            fill: { calls: rest, perSecond: round(fillPerSecond) },
          },
          latencyMs: { findApplications: latencyOf(find.latencies), queryApplicationsOneUri: latencyOf(queryOne.latencies), queryApplicationsPage100: latencyOf(queryPage.latencies) },
          registered,
        };
      },
    );
    gc?.();
    const atEnd = process.memoryUsage();

    await shutDown(run);

    // 2b. the server alone, in a child process.
    log(`${backend}: child process start/RSS/shutdown`);
    const child = await measureChild(backend);

    return {
      backend,
      startup: { freshMs: round(fresh.ms), stopMs: round(stopMs), restartMs: round(again.ms) },
      inProcess: {
        rssAfterStartMiB: mib(afterStart.rss),
        heapUsedAfterStartMiB: mib(afterStart.heapUsed),
        rssAtEndMiB: mib(atEnd.rss),
        heapUsedAtEndMiB: mib(atEnd.heapUsed),
      },
      child,
      counts: { sequential: seqCount, inFlight: inFlightCount, latencyCalls: LATENCY_CALLS, registeredAtQuery: figures.registered },
      read: figures.read,
      register: figures.register,
      ratio: {
        registerToReadSequential: round(figures.register.sequential.median / figures.read.sequential.median, 3),
        registerToReadInFlight: round(figures.register.inFlight.median / figures.read.inFlight.median, 3),
      },
      latencyMs: figures.latencyMs,
      serverErrors: run.errors.length,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Report

function table(results: BackendFigures[], apps: number): string {
  const rows: Array<Row<BackendFigures>> = [
    ["start-up, fresh folder (startGds incl. init), ms", (r) => `${r.startup.freshMs}`],
    ["stop (in-process), ms", (r) => `${r.startup.stopMs}`],
    ["restart on existing folder (startGds), ms", (r) => `${r.startup.restartMs}`],
    ["RSS after fresh start, in-process*, MiB", (r) => `${r.inProcess.rssAfterStartMiB}`],
    ["heap used after fresh start, in-process, MiB", (r) => `${r.inProcess.heapUsedAfterStartMiB}`],
    ["child: spawn to 'listening on' (fresh), ms", (r) => `${r.child.spawnToListeningMs}`],
    ["child: VmRSS right after start, MiB", (r) => `${r.child.vmRssMiB}`],
    ["child: VmHWM (peak RSS) at that time, MiB", (r) => `${r.child.vmHwmMiB}`],
    ["child: SIGTERM to exit, ms", (r) => `${r.child.sigtermToExitMs} (exit ${r.child.exitCode ?? r.child.signal})`],
    ["Read i=2258 sequential, calls/s", (r) => `${r.read.sequential.median}`],
    [`Read i=2258 ${IN_FLIGHT} in flight, calls/s`, (r) => `${r.read.inFlight.median}`],
    ["RegisterApplication sequential, calls/s", (r) => `${r.register.sequential.median}`],
    [`RegisterApplication ${IN_FLIGHT} in flight, calls/s`, (r) => `${r.register.inFlight.median}`],
    ["  register/read ratio, sequential", (r) => `${r.ratio.registerToReadSequential}`],
    [`  register/read ratio, ${IN_FLIGHT} in flight`, (r) => `${r.ratio.registerToReadInFlight}`],
    ["Read sequential latency p50 / p99, ms", (r) => `${r.read.sequentialLatencyMs.p50} / ${r.read.sequentialLatencyMs.p99}`],
    ["RegisterApplication seq. latency p50 / p99, ms", (r) => `${r.register.sequentialLatencyMs.p50} / ${r.register.sequentialLatencyMs.p99}`],
    [`fill to ${apps} (${IN_FLIGHT} in flight), calls/s`, (r) => `${r.register.fill.perSecond} (${r.register.fill.calls} calls)`],
    ["FindApplications p50 / p99, ms", (r) => `${r.latencyMs.findApplications.p50} / ${r.latencyMs.findApplications.p99}`],
    ["QueryApplications URI=one record p50 / p99, ms", (r) => `${r.latencyMs.queryApplicationsOneUri.p50} / ${r.latencyMs.queryApplicationsOneUri.p99}`],
    ["QueryApplications 100 from 0 p50 / p99, ms", (r) => `${r.latencyMs.queryApplicationsPage100.p50} / ${r.latencyMs.queryApplicationsPage100.p99}`],
    ["RSS at end, in-process*, MiB", (r) => `${r.inProcess.rssAtEndMiB}`],
    ["server errors logged", (r) => `${r.serverErrors}`],
  ];
  return renderTable(results, rows);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const { results, clock } = await runBackends(options.backends, (backend) => runBackend(backend, options.apps));

  const first = results[0].counts;
  const out: string[] = [];
  out.push(`opcua-gds directory benchmark: node ${process.version}, ${os.cpus().length} CPUs, ${os.platform()}; SignAndEncrypt Basic256Sha256, user "admin", one session`);
  out.push(
    `throughput: median of ${REPEATS} runs of ${first.sequential} sequential and ${first.inFlight} calls with ${IN_FLIGHT} in flight (runs interleaved: read, register, read, register); ` +
      `sequential latencies pooled over all runs; lookups: ${first.latencyCalls} sequential calls each with ${first.registeredAtQuery} applications registered`,
  );
  out.push("* client and server share this process: in-process RSS includes the client and, for the second backend, what the first left behind;");
  out.push("  the child rows are the server alone (`opcua-gds start` on a fresh folder, RSS read from /proc/<pid>/status).");
  out.push("in-process start-up times exclude loading node-opcua (already loaded); a fresh start includes generating the CA and server keys.");
  out.push("");
  out.push(table(results, options.apps));
  out.push("");
  out.push(totalLine(clock));
  process.stdout.write(`${out.join("\n")}\n`);
  process.stdout.write(`${reportJson("directory", { apps: options.apps, inFlight: IN_FLIGHT, repeats: REPEATS }, clock, results)}\n`);
}

runMain("directory-bench", main);
