/**
 * What the benchmarks in this folder share: argument parsing, progress log, statistics, timed
 * runners, the report table and JSON line, and a GDS started in process on a fresh folder and
 * database that is always cleaned up.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { MessageSecurityMode, SecurityPolicy } from "node-opcua";
import { startGds, type RunningGds } from "../src/app";
import { resolveConfig } from "../src/config/config";
import { BACKENDS, createTestDatabase, type Backend, type TestDatabase } from "../test/helpers/databases";
import { ADMIN_PASSWORD, tempDir, type TestGds } from "../test/helpers/gds-fixture";
import { disposeClientStores, type ClientOptions } from "../test/helpers/opcua-client";

// ---------------------------------------------------------------------------------------------
// Options

/** An integer flag: the option it sets, the values it takes, and the rule usage states otherwise. */
export interface IntegerFlag<K> {
  key: K;
  valid: (n: number) => boolean;
  rule: string;
}

/** Writes `message` and the usage line of bench `name` to stderr and exits with 2. */
function usageExit(name: string, flags: string[], message: string): never {
  const synopsis = ["[--backend sqlite|postgres]", ...flags.map((f) => `[${f} N]`)].join(" ");
  process.stderr.write(`${name}: ${message}\nusage: node dist/bench/${name}.js ${synopsis}\n`);
  process.exit(2);
}

/** Parses `--backend` and the integer `flags` of bench `name` over `defaults`; exits with its usage on anything else. */
export function parseBenchArgs<T extends { backends: Backend[] }>(name: string, argv: string[], defaults: T, flags: Record<string, IntegerFlag<keyof T>>): T {
  const options: T = { ...defaults, backends: [...defaults.backends] };
  const usage = (message: string) => usageExit(name, Object.keys(flags), message);
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    const integer = Object.hasOwn(flags, flag) ? flags[flag] : undefined;
    if (flag === "--backend") {
      const b = value();
      if (!(BACKENDS as readonly string[]).includes(b)) usage(`unknown backend "${b}"`);
      options.backends = [b as Backend];
    } else if (integer) {
      const n = Number(value());
      if (!Number.isInteger(n) || !integer.valid(n)) usage(`${flag} must be ${integer.rule}`);
      options[integer.key] = n as T[keyof T];
    } else if (flag === "--help" || flag === "-h") {
      usage("help");
    } else {
      usage(`unknown argument "${argv[i]}"`);
    }
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// Log and statistics

/** Writes one progress line, with the time of day, to stderr. */
export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Median of `values` (mean of the middle two for an even count). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** `v` rounded to `digits` decimals, as a number. */
export const round = (v: number, digits = 1) => Number(v.toFixed(digits));

/** Bytes in MiB, one decimal. */
export const mib = (bytes: number) => round(bytes / 1024 / 1024);

/** p50, p99 and mean of a set of latencies, ms. */
export interface Latency {
  p50: number;
  p99: number;
  mean: number;
}

/** The Latency of `values` (ms), two decimals. */
export function latencyOf(values: number[]): Latency {
  return { p50: round(percentile(values, 50), 2), p99: round(percentile(values, 99), 2), mean: round(values.reduce((a, b) => a + b, 0) / values.length, 2) };
}

/** Median and every run of a calls/s figure. */
export interface Throughput {
  median: number;
  runs: number[];
}

/** The Throughput of `runs` calls/s, one decimal. */
export const throughput = (runs: number[]): Throughput => ({ median: round(median(runs)), runs: runs.map((r) => round(r)) });

// ---------------------------------------------------------------------------------------------
// Runners

/** `count` sequential calls; returns calls/s and each call's latency in ms. */
export async function sequential(count: number, op: (i: number) => Promise<unknown>): Promise<{ perSecond: number; latencies: number[] }> {
  const latencies: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const s = performance.now();
    await op(i);
    latencies.push(performance.now() - s);
  }
  return { perSecond: (count * 1000) / (performance.now() - t0), latencies };
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, almost always 100). */
let clockTicks: number | undefined;

/**
 * CPU time (user + system) of this process's main thread so far, ms, from /proc; null where there
 * is no /proc. The main thread runs the event loop, the OPC UA stack and the database driver: when
 * it is busy all the time, its CPU per call bounds the rate.
 */
export function mainThreadCpuMs(): number | null {
  try {
    clockTicks ??= Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return null;
  }
}

/** The rate of one concurrent run and what the process spent on it. */
export interface Rate {
  perSecond: number;
  /** Process CPU (user + system, every thread) per call, ms. */
  cpuMsPerCall: number;
  /** CPU of the main thread per call, ms (null without /proc; 10 ms resolution over the whole run). */
  mainThreadCpuMsPerCall: number | null;
  /** Process CPU over wall time, in cores. */
  cores: number;
  /** Event-loop utilisation of the main thread, 0..1. */
  eventLoop: number;
}

/** `count` calls with `width` in flight; `op` learns which worker (0..width-1) runs it. Stops at the first failure. */
export async function concurrent(count: number, width: number, op: (i: number, worker: number) => Promise<unknown>): Promise<Rate> {
  let next = 0;
  let failed = false;
  return measured(count, () =>
    Promise.all(
      Array.from({ length: width }, async (_, worker) => {
        while (!failed) {
          const i = next++;
          if (i >= count) return;
          try {
            await op(i, worker);
          } catch (e) {
            failed = true;
            throw e;
          }
        }
      }),
    ),
  );
}

/** The Rate of `work`, which makes `count` calls: wall time, and what this process spent meanwhile. */
export async function measured(count: number, work: () => Promise<unknown>): Promise<Rate> {
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const main1 = mainThreadCpuMs();
  return {
    perSecond: (count * 1000) / ms,
    cpuMsPerCall: cpuMs / count,
    mainThreadCpuMsPerCall: main0 === null || main1 === null ? null : (main1 - main0) / count,
    cores: cpuMs / ms,
    eventLoop: performance.eventLoopUtilization(elu0).utilization,
  };
}

/** A Throughput with the medians of the runs' CPU per call, cores busy and event-loop utilisation. */
export interface RateThroughput extends Throughput {
  cpuMsPerCall: number;
  mainThreadCpuMsPerCall: number | null;
  cores: number;
  eventLoop: number;
}

/** The RateThroughput of concurrent runs. */
export const rateThroughput = (runs: Rate[]): RateThroughput => ({
  ...throughput(runs.map((r) => r.perSecond)),
  cpuMsPerCall: round(median(runs.map((r) => r.cpuMsPerCall)), 2),
  mainThreadCpuMsPerCall: runs.some((r) => r.mainThreadCpuMsPerCall === null) ? null : round(median(runs.map((r) => r.mainThreadCpuMsPerCall!)), 2),
  cores: round(median(runs.map((r) => r.cores)), 2),
  eventLoop: round(median(runs.map((r) => r.eventLoop)), 2),
});

// ---------------------------------------------------------------------------------------------
// Server under test

/** User "admin" on a SignAndEncrypt Basic256Sha256 channel. */
/** Benchmark sessions wait idle while a large directory is filled: they are kept alive. */
export const ADMIN: ClientOptions = {
  mode: MessageSecurityMode.SignAndEncrypt,
  policy: SecurityPolicy.Basic256Sha256,
  user: { userName: "admin", password: ADMIN_PASSWORD },
  keepSessionAlive: true,
};

/** One backend's data folder, database, server errors and (while it runs) server. */
export interface BackendRun {
  backend: Backend;
  dataDir: string;
  database: TestDatabase;
  /** What the server logged as errors. */
  errors: string[];
  /** The server while it runs; stopped on clean-up unless stopServer stopped it. */
  running: TestGds | null;
}

/** Runs `work` on a fresh data folder and database of `backend`; then stops the server, drops the database, removes the folder. */
export async function withBackend<T>(backend: Backend, work: (run: BackendRun) => Promise<T>): Promise<T> {
  const errors: string[] = [];
  const dataDir = await tempDir("bench-data");
  let database: TestDatabase | null = null;
  let run: BackendRun | null = null;
  try {
    database = await createTestDatabase(backend);
    run = { backend, dataDir, database, errors, running: null };
    return await work(run);
  } finally {
    if (run?.running) await run.running.stop().catch((e: Error) => log(`stop failed: ${e.message}`));
    await disposeClientStores().catch(() => undefined);
    if (database) await database.drop().catch((e: Error) => log(`dropping the ${backend} database failed: ${e.message}`));
    await fs.rm(dataDir, { recursive: true, force: true });
    if (errors.length) process.stderr.write(`server errors (${backend}, ${errors.length}):\n${errors.slice(0, 20).join("\n")}\n`);
  }
}

/** Starts a GDS in this process on the run's folder and database; returns it as the test helpers know it and startGds's ms. */
export async function launch(run: BackendRun): Promise<{ gds: TestGds; ms: number }> {
  const { dataDir, database, errors } = run;
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
  run.running = gds;
  return { gds, ms };
}

/** `opcua-gds start` in a child process: the server alone, as it runs in a plant. */
export interface SpawnedGds {
  /** Spawn to "listening on" printed, ms. */
  listeningMs: number;
  endpointUrl: string;
  /** What the test helpers need to connect to it (trusting its CA). */
  testGds: TestGds;
  rssKb(): Promise<number>;
  /** Peak RSS so far (VmHWM). */
  hwmKb(): Promise<number>;
  /** SIGTERM, then SIGKILL after 20 s; resolves with the time to exit and how it exited. */
  stop(): Promise<{ sigtermToExitMs: number; exitCode: number | null; signal: string | null }>;
}

async function procStatusKb(pid: number, field: string): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8");
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Starts `opcua-gds start` (the built CLI) on `where`'s folder and database; resolves once it listens. */
export async function spawnGds(where: { dataDir: string; database: TestDatabase; backend: Backend }): Promise<SpawnedGds> {
  const cli = path.resolve(__dirname, "..", "src", "cli", "main.js");
  const args = [cli, "start", "--data", where.dataDir, "--port", "0", "--host", "127.0.0.1"];
  if (where.database.url) args.push("--db", where.database.url);
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, { env: { ...process.env, OPCUA_GDS_ADMIN_PASSWORD: ADMIN_PASSWORD, OPCUA_GDS_DB: "" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal, at: performance.now() })));
  let endpointUrl: string;
  try {
    endpointUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child did not print "listening on" within 60 s; stderr:\n${stderr}`)), 60_000);
      proc.stdout!.on("data", (d: Buffer) => {
        stdout += d.toString();
        const m = /listening on (opc\.tcp:\/\/\S+)/.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`child exited before listening (code ${code}, signal ${signal}); stderr:\n${stderr}`));
      });
    });
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  const listeningMs = performance.now() - t0;
  const caFolder = path.join(where.dataDir, "ca", "DefaultApplicationGroup", "RsaSha256ApplicationCertificateType");
  const testGds = {
    endpointUrl,
    dataDir: where.dataDir,
    database: where.database,
    caCertificateFile: path.join(caFolder, "ca.cert.pem"),
    caCrlFile: path.join(caFolder, "ca.crl.pem"),
  } as TestGds;
  return {
    listeningMs,
    endpointUrl,
    testGds,
    rssKb: () => procStatusKb(proc.pid!, "VmRSS"),
    hwmKb: () => procStatusKb(proc.pid!, "VmHWM"),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return { sigtermToExitMs: 0, exitCode: proc.exitCode, signal: proc.signalCode };
      const t1 = performance.now();
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
      const exit = await exited;
      clearTimeout(timer);
      if (stderr.trim()) log(`child stderr:\n${stderr.trim()}`);
      return { sigtermToExitMs: exit.at - t1, exitCode: exit.code, signal: exit.signal };
    },
  };
}

/** Stops the run's server (clean-up will not stop it again); returns the ms it took. */
export async function stopServer(run: BackendRun): Promise<number> {
  const t0 = performance.now();
  const stopping = run.running;
  run.running = null;
  await stopping?.stop();
  return performance.now() - t0;
}

/** The end of a backend's run: stops its server and disposes the client PKI stores. */
export async function shutDown(run: BackendRun): Promise<void> {
  log(`${run.backend}: stopping`);
  await stopServer(run);
  await disposeClientStores();
}

// ---------------------------------------------------------------------------------------------
// Whole run and report

/** Wall time of a whole run and the 1-minute load average before and after it. */
export interface RunClock {
  totalSeconds: number;
  loadBefore: number;
  loadAfter: number;
}

/** Runs `runOne` for each backend in turn with TMPDIR on one fresh folder removed at the end; times the whole. */
export async function runBackends<R>(backends: Backend[], runOne: (backend: Backend) => Promise<R>): Promise<{ results: R[]; clock: RunClock }> {
  const loadBefore = os.loadavg()[0];
  const started = performance.now();
  const results: R[] = [];
  // Every temporary folder of this run (data folders, the client PKI stores the test helpers make
  // and do not remove, a child's) goes below one folder that is removed at the end.
  const ownTmp = await fs.mkdtemp(path.join(os.tmpdir(), "opcua-gds-bench-"));
  const previousTmp = process.env.TMPDIR;
  process.env.TMPDIR = ownTmp;
  try {
    for (const backend of backends) results.push(await runOne(backend));
  } finally {
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    await fs.rm(ownTmp, { recursive: true, force: true });
  }
  const totalSeconds = (performance.now() - started) / 1000;
  return { results, clock: { totalSeconds, loadBefore, loadAfter: os.loadavg()[0] } };
}

/** One row of the report: its label and how a backend's figures fill its cell. */
export type Row<R> = [label: string, cell: (r: R) => string];

/** The report table: a label column and one right-aligned column per backend. */
export function renderTable<R extends { backend: string }>(results: R[], rows: Array<Row<R>>): string {
  const header = ["metric", ...results.map((r) => r.backend)];
  const body = rows.map(([label, cell]) => [label, ...results.map(cell)]);
  const widths = header.map((_, c) => Math.max(...[header, ...body].map((row) => row[c].length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("   ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("   "), ...body.map(line)].join("\n");
}

/** The report's closing line: total time and load average. */
export function totalLine(clock: RunClock): string {
  return `total ${clock.totalSeconds.toFixed(1)} s; 1-minute load average ${clock.loadBefore.toFixed(2)} before, ${clock.loadAfter.toFixed(2)} after (other work on the machine skews every figure)`;
}

/** The report's last line: bench, node, CPUs, then `settings`, total seconds, load average and results, as one JSON object. */
export function reportJson(bench: string, settings: Record<string, unknown>, clock: RunClock, results: unknown[]): string {
  const loadAverage = { before: round(clock.loadBefore, 2), after: round(clock.loadAfter, 2) };
  return JSON.stringify({ bench, node: process.version, cpus: os.cpus().length, ...settings, totalSeconds: round(clock.totalSeconds), loadAverage, results });
}

/** Runs `main` and exits 0, or 1 after writing why (node-opcua and the pg pool may keep timers alive). */
export function runMain(name: string, main: () => Promise<void>): void {
  main().then(
    () => {
      setTimeout(() => process.exit(0), 50).unref();
    },
    (e: unknown) => {
      process.stderr.write(`${name} failed: ${(e as Error)?.stack ?? String(e)}\n`);
      setTimeout(() => process.exit(1), 50).unref();
    },
  );
}
