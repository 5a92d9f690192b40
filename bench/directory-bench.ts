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
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";
import { AttributeIds, MessageSecurityMode, SecurityPolicy, StatusCodes, type ClientSession } from "node-opcua";
import { startGds, type RunningGds } from "../src/app";
import type { DirectoryClient } from "../src/client/directory-client";
import { resolveConfig } from "../src/config/config";
import { BACKENDS, createTestDatabase, type Backend, type TestDatabase } from "../test/helpers/databases";
import { ADMIN_PASSWORD, tempDir, type TestGds } from "../test/helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../test/helpers/opcua-client";
import { serverRecord } from "../test/helpers/records";

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  backends: Backend[];
  apps: number;
}

function usage(message: string): never {
  process.stderr.write(`directory-bench: ${message}\nusage: node dist/bench/directory-bench.js [--backend sqlite|postgres] [--apps N]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const options: Options = { backends: [...BACKENDS], apps: 10_000 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    if (flag === "--backend") {
      const b = value();
      if (!(BACKENDS as readonly string[]).includes(b)) usage(`unknown backend "${b}"`);
      options.backends = [b as Backend];
    } else if (flag === "--apps") {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 100) usage("--apps must be an integer of at least 100");
      options.apps = n;
    } else if (flag === "--help" || flag === "-h") {
      usage("help");
    } else {
      usage(`unknown argument "${argv[i]}"`);
    }
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers

const REPEATS = 3;
const IN_FLIGHT = 16;
const LATENCY_CALLS = 500;

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const round = (v: number, digits = 1) => Number(v.toFixed(digits));
const mib = (bytes: number) => round(bytes / 1024 / 1024);

let gc: (() => void) | null = null;
try {
  v8.setFlagsFromString("--expose-gc");
  gc = vm.runInNewContext("gc") as () => void;
} catch {
  gc = null;
}

/** `count` sequential calls; returns calls/s and each call's latency in ms. */
async function sequential(count: number, op: (i: number) => Promise<unknown>): Promise<{ perSecond: number; latencies: number[] }> {
  const latencies: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const s = performance.now();
    await op(i);
    latencies.push(performance.now() - s);
  }
  return { perSecond: (count * 1000) / (performance.now() - t0), latencies };
}

/** `count` calls with `width` in flight; returns calls/s. Stops at the first failure. */
async function concurrent(count: number, width: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  let failed = false;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (!failed) {
        const i = next++;
        if (i >= count) return;
        try {
          await op(i);
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    }),
  );
  return (count * 1000) / (performance.now() - t0);
}

interface Latency {
  p50: number;
  p99: number;
  mean: number;
}

function latencyOf(values: number[]): Latency {
  return { p50: round(percentile(values, 50), 2), p99: round(percentile(values, 99), 2), mean: round(values.reduce((a, b) => a + b, 0) / values.length, 2) };
}

interface Throughput {
  median: number;
  runs: number[];
}

const throughput = (runs: number[]): Throughput => ({ median: round(median(runs)), runs: runs.map((r) => round(r)) });

// ---------------------------------------------------------------------------------------------
// Server under test

/** Starts a GDS in this process on `dataDir`/`database` and returns it as the test helpers know it. */
async function launch(dataDir: string, database: TestDatabase, errors: string[]): Promise<{ gds: TestGds; ms: number }> {
  // No environment: an OPCUA_GDS_DB of the caller must not turn the SQLite run into a PostgreSQL one.
  const config = resolveConfig({ data: dataDir, db: database.url, port: 0, host: "127.0.0.1" }, {});
  const t0 = performance.now();
  const running: RunningGds = await startGds(config, { env: { OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD }, logError: (m) => errors.push(m) });
  const ms = performance.now() - t0;
  const caFolder = path.join(dataDir, "ca", "DefaultApplicationGroup", "RsaSha256ApplicationCertificateType");
  const gds: TestGds = {
    gds: running,
    endpointUrl: running.endpointUrl,
    dataDir,
    database,
    caCertificateFile: path.join(caFolder, "ca.cert.pem"),
    caCrlFile: path.join(caFolder, "ca.crl.pem"),
    stop: () => running.stop(),
  };
  return { gds, ms };
}

interface ChildFigures {
  spawnToListeningMs: number;
  vmRssMiB: number;
  vmHwmMiB: number;
  sigtermToExitMs: number;
  exitCode: number | null;
  signal: string | null;
}

async function procStatusKb(pid: number, field: string): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8");
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** The server alone: `opcua-gds start` in a child process on a fresh folder and database. */
async function measureChild(backend: Backend): Promise<ChildFigures> {
  const cli = path.resolve(__dirname, "..", "src", "cli", "main.js");
  const dataDir = await tempDir("bench-child");
  let database: TestDatabase | null = null;
  let child: ReturnType<typeof spawn> | null = null;
  try {
    database = await createTestDatabase(backend);
    const args = [cli, "start", "--data", dataDir, "--port", "0", "--host", "127.0.0.1"];
    if (database.url) args.push("--db", database.url);
    const t0 = performance.now();
    const proc = spawn(process.execPath, args, {
      env: { ...process.env, OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD, OPCUA_GDS_DB: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    let stdout = "";
    let stderr = "";
    proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((resolve) =>
      proc.once("exit", (code, signal) => resolve({ code, signal, at: performance.now() })),
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child did not print "listening on" within 60 s; stderr:\n${stderr}`)), 60_000);
      proc.stdout!.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes("listening on")) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`child exited before listening (code ${code}, signal ${signal}); stderr:\n${stderr}`));
      });
    });
    const spawnToListeningMs = performance.now() - t0;
    const vmRss = await procStatusKb(proc.pid!, "VmRSS");
    const vmHwm = await procStatusKb(proc.pid!, "VmHWM");
    const t1 = performance.now();
    proc.kill("SIGTERM");
    const exit = await exited;
    if (stderr.trim()) log(`child (${backend}) stderr:\n${stderr.trim()}`);
    return {
      spawnToListeningMs: round(spawnToListeningMs),
      vmRssMiB: round(vmRss / 1024),
      vmHwmMiB: round(vmHwm / 1024),
      sigtermToExitMs: round(exit.at - t1),
      exitCode: exit.code,
      signal: exit.signal,
    };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const gone = new Promise((r) => c.once("exit", r));
      c.kill("SIGKILL");
      await gone;
    }
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
  const errors: string[] = [];
  const dataDir = await tempDir("bench-data");
  let database: TestDatabase | null = null;
  let running: TestGds | null = null;
  try {
    database = await createTestDatabase(backend);

    // 1. start-up: fresh folder (init included), then a restart on the same folder and database.
    log(`${backend}: fresh start`);
    const fresh = await launch(dataDir, database, errors);
    running = fresh.gds;
    gc?.();
    const afterStart = process.memoryUsage();
    const s0 = performance.now();
    const stopping = running;
    running = null;
    await stopping.stop();
    const stopMs = performance.now() - s0;
    log(`${backend}: restart on the existing folder`);
    const again = await launch(dataDir, database, errors);
    running = again.gds;

    // Sizes: with 10,000 apps, 3 x (500 + 2000) registrations come from the throughput runs.
    const seqCount = Math.max(10, Math.min(500, Math.floor(apps * 0.05)));
    const inFlightCount = Math.max(20, Math.min(2000, Math.floor(apps * 0.2)));
    let nextApp = 1;
    const register = (d: DirectoryClient) => d.registerApplication(serverRecord(nextApp++));

    const figures = await withDirectory(
      running,
      { mode: MessageSecurityMode.SignAndEncrypt, policy: SecurityPolicy.Basic256Sha256, user: { userName: "admin", password: ADMIN_PASSWORD } },
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
          readPar.push(await concurrent(inFlightCount, IN_FLIGHT, () => readCurrentTime(session)));
          regPar.push(await concurrent(inFlightCount, IN_FLIGHT, () => register(d)));
        }

        // Fill to `apps` registered applications.
        const rest = Math.max(0, apps - (nextApp - 1));
        log(`${backend}: filling ${rest} more to ${apps}`);
        const fillPerSecond = rest > 0 ? await concurrent(rest, IN_FLIGHT, () => register(d)) : 0;
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

    log(`${backend}: stopping`);
    const last = running;
    running = null;
    await last.stop();
    await disposeClientStores();

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
      serverErrors: errors.length,
    };
  } finally {
    if (running) await running.stop().catch((e: Error) => log(`stop failed: ${e.message}`));
    await disposeClientStores().catch(() => undefined);
    if (database) await database.drop().catch((e: Error) => log(`dropping the ${backend} database failed: ${e.message}`));
    await fs.rm(dataDir, { recursive: true, force: true });
    if (errors.length) process.stderr.write(`server errors (${backend}, ${errors.length}):\n${errors.slice(0, 20).join("\n")}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function table(results: BackendFigures[], apps: number): string {
  const rows: Array<[string, (r: BackendFigures) => string]> = [
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
  const header = ["metric", ...results.map((r) => r.backend)];
  const body = rows.map(([label, cell]) => [label, ...results.map(cell)]);
  const widths = header.map((_, c) => Math.max(...[header, ...body].map((row) => row[c].length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("   ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("   "), ...body.map(line)].join("\n");
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const loadBefore = os.loadavg()[0];
  const started = performance.now();
  const results: BackendFigures[] = [];
  // Every temporary folder of this run (data folders, the client PKI stores the test helpers make
  // and do not remove, the child's) goes below one folder that is removed at the end.
  const ownTmp = await fs.mkdtemp(path.join(os.tmpdir(), "opcua-gds-bench-"));
  const previousTmp = process.env.TMPDIR;
  process.env.TMPDIR = ownTmp;
  try {
    for (const backend of options.backends) results.push(await runBackend(backend, options.apps));
  } finally {
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    await fs.rm(ownTmp, { recursive: true, force: true });
  }
  const totalS = (performance.now() - started) / 1000;
  const loadAfter = os.loadavg()[0];

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
  out.push(`total ${totalS.toFixed(1)} s; 1-minute load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (other work on the machine skews every figure)`);
  process.stdout.write(`${out.join("\n")}\n`);
  process.stdout.write(
    `${JSON.stringify({ bench: "directory", node: process.version, cpus: os.cpus().length, apps: options.apps, inFlight: IN_FLIGHT, repeats: REPEATS, totalSeconds: round(totalS), loadAverage: { before: round(loadBefore, 2), after: round(loadAfter, 2) }, results })}\n`,
  );
}

main().then(
  () => {
    // node-opcua and the pg pool may keep timers alive after everything was stopped.
    setTimeout(() => process.exit(0), 50).unref();
  },
  (e: unknown) => {
    process.stderr.write(`directory-bench failed: ${(e as Error)?.stack ?? String(e)}\n`);
    setTimeout(() => process.exit(1), 50).unref();
  },
);
