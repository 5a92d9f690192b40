/**
 * Certificate issuance benchmark: end-to-end StartSigningRequest + FinishRequest over OPC UA
 * (SignAndEncrypt Basic256Sha256, user "admin", a CertificateAuthorityAdmin: every request is issued
 * at once) with one session per client and `--clients` requests in flight, on SQLite and PostgreSQL.
 * Every round also measures node:crypto's raw RSA-2048 signing rate (crypto.sign on one thread, and
 * WebCrypto subtle.sign with `--clients` in flight, as the product signs) and the ratio of the two,
 * the same issuance calling the CertificateService in process (no OPC UA, no caller resolution), the
 * process CPU, main-thread CPU and event-loop utilisation while issuing, and the sequential latency of one
 * StartSigningRequest + FinishRequest pair on one session.
 *
 *   node dist/bench/issuance-bench.js [--backend sqlite|postgres] [--count N] [--clients N]
 *
 * Every application has its own ApplicationUri and a CSR carrying it (URI SAN plus the host of its
 * DiscoveryUrl). Applications are registered in process and CSRs made (one shared RSA-2048 key pair)
 * before anything is timed. Every issued certificate is checked afterwards: its SAN URI is its
 * application's, every serial is distinct, and the issued_certificates table grew by exactly what was
 * issued.
 *
 * A run issues `--count` certificates, or fewer when the warm-up rate says that `--count` would take
 * more than RUN_SECONDS: a full run of both backends stays within about 6 minutes however slow the
 * issuance is. The report says how many each run issued. Both the server and the clients are warm
 * when timed: the server after its warm-up and the in-process runs, the client process after
 * CHILD_WARMUP_CALLS issuances of its own (the target is the server's steady rate, not the clients'
 * JIT).
 *
 * Prints a plain table on stdout and, as its last line, every figure as one JSON object. Progress
 * and server errors go to stderr.
 */
import "reflect-metadata";
import { fork, type ChildProcess } from "node:child_process";
import crypto, { X509Certificate } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import util from "node:util";
import { CertificateClient, type DirectoryClient } from "../src/client/directory-client";
import { formatApplicationId } from "../src/domain/application-id";
import { ChannelSecurity, type Caller } from "../src/domain/caller";
import { ROLES } from "../src/domain/roles";
import { requesterOf } from "../src/opcua/bindings/requester";
import type { CallContext } from "../src/opcua/method-binding";
import { makeCsr, testKeyPair } from "../test/helpers/certificates";
import { BACKENDS, type Backend } from "../test/helpers/databases";
import type { TestGds } from "../test/helpers/gds-fixture";
import { withDirectory } from "../test/helpers/opcua-client";
import { serverRecord } from "../test/helpers/records";
import {
  ADMIN,
  concurrent,
  latencyOf,
  launch,
  log,
  measured,
  parseBenchArgs,
  rateThroughput,
  renderTable,
  throughput,
  reportJson,
  round,
  runBackends,
  runMain,
  sequential,
  shutDown,
  totalLine,
  withBackend,
  type Latency,
  type Rate,
  type RateThroughput,
  type Row,
} from "./bench-kit";
import type { ClientsSetup, FromClients, ToClients } from "./issuance-clients";

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  backends: Backend[];
  count: number;
  clients: number;
}

function parseArgs(argv: string[]): Options {
  return parseBenchArgs(
    "issuance-bench",
    argv,
    { backends: [...BACKENDS], count: 2000, clients: 16 },
    {
      "--count": { key: "count", valid: (n) => n >= 10, rule: "an integer of at least 10" },
      "--clients": { key: "clients", valid: (n) => n >= 1 && n <= 64, rule: "an integer from 1 to 64" },
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Settings

const REPEATS = 3;
const LATENCY_CALLS = 200;
const WARMUP_CALLS = 100;
/**
 * Issuances from the client process before its first timed run. A cold client process costs about
 * 1.5 ms of CPU per issuance and a warm one under 1 ms, on the two cores the server shares with it:
 * without this, the first run measured the clients' JIT warming up rather than the server.
 */
const CHILD_WARMUP_CALLS = 1000;
/** Each round measures raw signing for this long (twice: crypto.sign, then subtle.sign), right before its issuance runs. */
const RAW_SIGN_MS = 1000;
/** A timed OPC UA run is cut to what the warm-up rate issues in this time (the whole run: about 6 min). */
const RUN_SECONDS = 15;
/** Target of the issue: certificates per second on this machine (2 cores). */
const TARGET_PER_SECOND = 300;

/**
 * The requester the in-process runs present to the CertificateService: what the OPC UA binding
 * (requesterOf) makes of a session of "admin" on a SignAndEncrypt channel, without a client certificate.
 */
function adminRequester(applicationId: string) {
  const caller = {
    channel: ChannelSecurity.SignAndEncrypt,
    user: "admin",
    roles: new Set(ROLES),
    clientCertificateThumbprint: null,
    selfApplicationId: null,
    onboardingUri: null,
    onboardingApplicationId: null,
  } as unknown as Caller;
  return requesterOf({ caller, actor: "admin", preferredLocales: [] } as unknown as CallContext, applicationId);
}

// ---------------------------------------------------------------------------------------------
// Raw signing rate of node:crypto

interface RawSign {
  /** crypto.sign("sha256", data, key) in a loop on this thread. */
  syncPerSecond: number;
  /** webcrypto subtle.sign with `width` in flight (libuv thread pool). */
  subtlePerSecond: number;
  subtleInFlight: number;
}

/** The medians of each round's raw signing rates, and every round's figures. */
interface RawSignRounds extends RawSign {
  syncRuns: number[];
  subtleRuns: number[];
}

function rawSignMedians(rounds: RawSign[]): RawSignRounds {
  const sync = throughput(rounds.map((r) => r.syncPerSecond));
  const subtle = throughput(rounds.map((r) => r.subtlePerSecond));
  return { syncPerSecond: sync.median, subtlePerSecond: subtle.median, subtleInFlight: rounds[0].subtleInFlight, syncRuns: sync.runs, subtleRuns: subtle.runs };
}

async function measureRawSign(width: number): Promise<RawSign> {
  // About the size of an application certificate's TBSCertificate; the hash is a small part anyway.
  const data = crypto.randomBytes(1200);
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  for (let i = 0; i < 20; i++) crypto.sign("sha256", data, privateKey);
  let n = 0;
  let t0 = performance.now();
  let elapsed = 0;
  while ((elapsed = performance.now() - t0) < RAW_SIGN_MS) {
    crypto.sign("sha256", data, privateKey);
    n++;
  }
  const syncPerSecond = (n * 1000) / elapsed;

  const subtle = crypto.webcrypto.subtle as unknown as SubtleCrypto;
  const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  const key = await subtle.importKey("pkcs8", privateKey.export({ type: "pkcs8", format: "der" }), algorithm, false, ["sign"]);
  for (let i = 0; i < 20; i++) await subtle.sign(algorithm, key, data);
  let m = 0;
  t0 = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (performance.now() - t0 < RAW_SIGN_MS) {
        await subtle.sign(algorithm, key, data);
        m++;
      }
    }),
  );
  const subtlePerSecond = (m * 1000) / (performance.now() - t0);
  return { syncPerSecond: round(syncPerSecond), subtlePerSecond: round(subtlePerSecond), subtleInFlight: width };
}

// ---------------------------------------------------------------------------------------------
// Applications and their CSRs

/** Application `n` (1-based) is serverRecord(n); its CSR carries its URI and the host of its DiscoveryUrl. */
const uriOf = (n: number) => serverRecord(n).applicationUri;

/** CSRs of applications 1..n, made once and shared by the backends (each has a fresh database). */
class CsrPool {
  readonly csrs: Buffer[] = [];
  seconds = 0;
  private keys: CryptoKeyPair | null = null;

  /** The CSR of application `n`. */
  of(n: number): Buffer {
    const csr = this.csrs[n - 1];
    if (!csr) throw new Error(`no CSR made for application ${n}`);
    return csr;
  }

  /** Makes the CSRs of applications up to `n` that do not exist yet. */
  async ensure(n: number): Promise<void> {
    if (this.csrs.length >= n) return;
    const t0 = performance.now();
    this.keys ??= (await testKeyPair(2048)).keys;
    log(`making CSRs ${this.csrs.length + 1}..${n}`);
    while (this.csrs.length < n) {
      const k = this.csrs.length + 1;
      this.csrs.push(await makeCsr(this.keys, { uri: uriOf(k), dns: [`plc${k}.plant1`], subject: `CN=PLC ${k}, O=Plant 1` }));
    }
    this.seconds += (performance.now() - t0) / 1000;
  }
}

// ---------------------------------------------------------------------------------------------
// Server under test and its sessions

interface Sessions {
  directories: DirectoryClient[];
  /** Why fewer sessions than asked for are open, if so. */
  refused: string | null;
}

const SESSION_OPEN_TIMEOUT_MS = 20_000;

/**
 * Opens up to `wanted` OPCUAClient connections, each with one admin session (withDirectory), one
 * after the other, keeps them open while `work` runs and closes every one afterwards. When the
 * server refuses one, `work` runs with those that opened, and learns why.
 */
async function withSessions<T>(gds: TestGds, wanted: number, work: (sessions: Sessions) => Promise<T>): Promise<T> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const holders: Array<Promise<void>> = [];
  const directories: DirectoryClient[] = [];
  let refused: string | null = null;
  try {
    for (let i = 0; i < wanted; i++) {
      const opened = await new Promise<DirectoryClient | Error>((resolve) => {
        const timer = setTimeout(() => resolve(new Error(`no session within ${SESSION_OPEN_TIMEOUT_MS / 1000} s`)), SESSION_OPEN_TIMEOUT_MS);
        holders.push(
          withDirectory(gds, ADMIN, async (d) => {
            clearTimeout(timer);
            resolve(d);
            await released;
          }).then(
            () => undefined,
            (e: Error) => {
              clearTimeout(timer);
              resolve(e);
            },
          ),
        );
      });
      if (opened instanceof Error) {
        refused = `connection ${i + 1} failed: ${opened.message.replace(/\s+/g, " ").trim()}`;
        break;
      }
      directories.push(opened);
    }
    if (directories.length === 0) throw new Error(`no session could be opened: ${refused}`);
    return await work({ directories, refused });
  } finally {
    release();
    await Promise.all(holders);
  }
}

/**
 * The same clients in a process of their own (issuance-clients.ts): the GDS's process then does only
 * the server's work, as when the clients are devices elsewhere on the network.
 */
class ClientProcess {
  private waiting: ((m: FromClients) => void) | null = null;

  private constructor(
    private readonly child: ChildProcess,
    readonly open: number,
    readonly refused: string | null,
  ) {}

  static async start(gds: TestGds, clients: number): Promise<ClientProcess> {
    const setup: ClientsSetup = { endpointUrl: gds.endpointUrl, dataDir: gds.dataDir, caCertificateFile: gds.caCertificateFile, caCrlFile: gds.caCrlFile, clients };
    // The child's stdout carries node-opcua's chatter only; this process's stdout is the report.
    const child = fork(path.join(__dirname, "issuance-clients.js"), [JSON.stringify(setup)], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    const ready = await new Promise<FromClients>((resolve, reject) => {
      child.once("message", resolve);
      child.once("exit", (code) => reject(new Error(`the client process exited (${code}) before its sessions were open`)));
    });
    if (ready.type !== "ready") throw new Error(`the client process failed: ${ready.type === "failed" ? ready.message : ready.type}`);
    const processed = new ClientProcess(child, ready.open, ready.refused);
    child.on("message", (m: FromClients) => processed.waiting?.(m));
    return processed;
  }

  /** Issues one certificate per job over the child's sessions; the certificates in job order. */
  async run(jobs: Array<{ applicationId: string; csr: Buffer }>): Promise<Buffer[]> {
    const answer = new Promise<FromClients>((resolve) => (this.waiting = resolve));
    const message: ToClients = { type: "run", jobs: jobs.map((j) => ({ applicationId: j.applicationId, csr: j.csr.toString("base64") })) };
    this.child.send(message);
    const m = await answer;
    this.waiting = null;
    if (m.type !== "done") throw new Error(`the client process failed: ${m.type === "failed" ? m.message : m.type}`);
    return m.certificates.map((c) => Buffer.from(c, "base64"));
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.send({ type: "close" } satisfies ToClients);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// One backend

interface BackendFigures {
  backend: Backend;
  sessions: { requested: number; open: number; refused: string | null };
  counts: { requestedPerRun: number; perRun: number; inProcessPerRun: number; warmupPerSecond: number; registered: number };
  rawSign: RawSignRounds;
  issuance: RateThroughput;
  /** The same issuances from clients in another process: this process's CPU is the server's alone. */
  childClients: RateThroughput & { open: number; refused: string | null };
  inProcess: RateThroughput;
  ratio: { issuanceToCryptoSign: number; issuanceToSubtleSign: number; issuanceToInProcess: number; childClientsToCryptoSign: number };
  sequential: { pairMs: Latency; startSigningRequestMs: Latency; finishRequestMs: Latency; perSecond: number };
  verified: { certificates: number; uriMatches: number; distinctSerials: number; rowsBefore: number; rowsAfter: number; rowDeltasPerRun: number[] };
  targetMet: boolean;
  serverErrors: number;
}

async function issuedRows(gds: TestGds): Promise<number> {
  const rows: Array<{ n: number | string }> = await gds.gds.services.db.dataSource.query("SELECT COUNT(*) AS n FROM issued_certificates");
  return Number(rows[0].n);
}

/** Checks that issued_certificates grew by `expected` since `before`; returns the new count. */
async function expectRows(gds: TestGds, before: number, expected: number): Promise<number> {
  const after = await issuedRows(gds);
  if (after - before !== expected) throw new Error(`issued_certificates grew by ${after - before}, not ${expected}`);
  return after;
}

async function runBackend(backend: Backend, options: Options, csrs: CsrPool): Promise<BackendFigures> {
  const { count, clients } = options;
  return withBackend(backend, async (run) => {
    log(`${backend}: starting the GDS`);
    const { gds } = await launch(run);
    const services = gds.gds.services;

    // Applications are registered in process (not part of any figure); ids[n] is application n's.
    const ids: string[] = [""];
    const registerUpTo = async (n: number) => {
      if (ids.length > n) return;
      await csrs.ensure(n);
      log(`${backend}: registering applications ${ids.length}..${n}`);
      const first = ids.length;
      const fresh = new Array<string>(n - first + 1);
      await concurrent(fresh.length, clients, async (i) => {
        fresh[i] = formatApplicationId(await services.directory.registerApplication("bench", serverRecord(first + i)));
      });
      ids.push(...fresh);
    };

    const figures = await withSessions(gds, clients, async ({ directories, refused }) => {
      log(`${backend}: ${directories.length} of ${clients} sessions open${refused ? ` (${refused})` : ""}`);
      const pull = directories.map((d) => new CertificateClient(d));
      const sessionOf = (worker: number) => worker % directories.length;

      const certificates: Buffer[] = [];
      let nextApp = 1;
      /** The first of the next `n` applications (registered later, with registerUpTo). */
      const take = (n: number) => {
        const first = nextApp;
        nextApp += n;
        return first;
      };
      const overOpcUa = async (n: number, c: CertificateClient) => {
        const requestId = await c.startSigningRequest(ids[n], csrs.of(n));
        certificates[n] = (await c.finishRequest(ids[n], requestId)).certificate;
      };
      const inProcess = async (n: number) => {
        const applicationId = ids[n].split("g=")[1];
        const requester = adminRequester(applicationId);
        const requestId = await services.certificates.startSigningRequest(requester, applicationId, null, null, csrs.of(n));
        certificates[n] = (await services.certificates.finishRequest(requester, applicationId, requestId)).certificate;
      };

      const rowsBefore = await issuedRows(gds);

      // Warm-up (JIT, pools, the client's first use of the methods); its rate sizes the runs.
      const warm = take(WARMUP_CALLS);
      await registerUpTo(nextApp - 1);
      log(`${backend}: warm-up (${WARMUP_CALLS} issuances)`);
      for (let i = 0; i < 10; i++) await overOpcUa(warm + i, pull[0]);
      const warmRate = await concurrent(WARMUP_CALLS - 10, clients, (i, w) => overOpcUa(warm + 10 + i, pull[sessionOf(w)]));
      const perRun = Math.min(count, Math.max(50, Math.round(warmRate.perSecond * RUN_SECONDS)));
      const inProcessPerRun = Math.max(10, Math.round(perRun / 4));
      if (perRun < count) log(`${backend}: warm-up rate ${warmRate.perSecond.toFixed(1)}/s: ${perRun} issuances per run instead of ${count}`);
      let rows = await expectRows(gds, rowsBefore, WARMUP_CALLS);

      // Every application the timed part needs, registered (and its CSR made) before it starts.
      const latencyFirst = take(LATENCY_CALLS);
      const childWarm = take(CHILD_WARMUP_CALLS);
      const runFirst: Array<{ opcUa: number; child: number; inProcess: number }> = [];
      for (let rep = 0; rep < REPEATS; rep++) runFirst.push({ opcUa: take(perRun), child: take(perRun), inProcess: take(inProcessPerRun) });
      await registerUpTo(nextApp - 1);

      log(`${backend}: starting ${clients} clients in another process`);
      const childClients = await ClientProcess.start(gds, clients);
      const childRuns: Rate[] = [];
      const childJobs = (first: number, n: number) => Array.from({ length: n }, (_, i) => ({ applicationId: ids[first + i], csr: csrs.of(first + i) }));
      log(`${backend}: warm-up of the client process (${CHILD_WARMUP_CALLS} issuances)`);
      (await childClients.run(childJobs(childWarm, CHILD_WARMUP_CALLS))).forEach((cert, i) => (certificates[childWarm + i] = cert));
      rows = await expectRows(gds, rows, CHILD_WARMUP_CALLS);

      const rawSignRounds: RawSign[] = [];
      const opcUaRuns: Rate[] = [];
      const inProcessRuns: Rate[] = [];
      const rowDeltasPerRun: number[] = [];
      for (let rep = 0; rep < REPEATS; rep++) {
        log(`${backend}: run ${rep + 1}/${REPEATS}: raw RSA-2048 signing rate (2 x ${RAW_SIGN_MS / 1000} s)`);
        rawSignRounds.push(await measureRawSign(clients));
        log(`${backend}: run ${rep + 1}/${REPEATS}: ${perRun} issuances over OPC UA, ${clients} in flight`);
        const { opcUa, inProcess: firstIn } = runFirst[rep];
        opcUaRuns.push(await concurrent(perRun, clients, (i, w) => overOpcUa(opcUa + i, pull[sessionOf(w)])));
        rowDeltasPerRun.push(perRun);
        rows = await expectRows(gds, rows, perRun);

        log(`${backend}: run ${rep + 1}/${REPEATS}: ${perRun} issuances over OPC UA from the client process, ${childClients.open} in flight`);
        const first = runFirst[rep].child;
        const jobs = childJobs(first, perRun);
        childRuns.push(
          await measured(perRun, async () => {
            const issued = await childClients.run(jobs);
            issued.forEach((cert, i) => (certificates[first + i] = cert));
          }),
        );
        rowDeltasPerRun.push(perRun);
        rows = await expectRows(gds, rows, perRun);

        log(`${backend}: run ${rep + 1}/${REPEATS}: ${inProcessPerRun} issuances in process, ${clients} in flight`);
        inProcessRuns.push(await concurrent(inProcessPerRun, clients, (i) => inProcess(firstIn + i)));
        rowDeltasPerRun.push(inProcessPerRun);
        rows = await expectRows(gds, rows, inProcessPerRun);
      }

      log(`${backend}: sequential latency (${LATENCY_CALLS} pairs on one session)`);
      const starts: number[] = [];
      const finishes: number[] = [];
      const pairs = await sequential(LATENCY_CALLS, async (i) => {
        const n = latencyFirst + i;
        const t0 = performance.now();
        const requestId = await pull[0].startSigningRequest(ids[n], csrs.of(n));
        const t1 = performance.now();
        certificates[n] = (await pull[0].finishRequest(ids[n], requestId)).certificate;
        starts.push(t1 - t0);
        finishes.push(performance.now() - t1);
      });
      rows = await expectRows(gds, rows, LATENCY_CALLS);
      await childClients.close();

      // Every certificate: the SAN URI of its application, distinct serials, one row each.
      const issued = nextApp - 1;
      log(`${backend}: verifying ${issued} certificates`);
      let uriMatches = 0;
      const serials = new Set<string>();
      for (let n = 1; n <= issued; n++) {
        const cert = new X509Certificate(certificates[n]);
        const uris = (cert.subjectAltName ?? "")
          .split(/,\s*/)
          .filter((name) => name.startsWith("URI:"))
          .map((name) => name.slice(4));
        if (uris.length === 1 && uris[0] === uriOf(n)) uriMatches++;
        serials.add(cert.serialNumber.toLowerCase());
      }
      const rowsAfter = await expectRows(gds, rowsBefore, issued);
      if (uriMatches !== issued) throw new Error(`${issued - uriMatches} of ${issued} certificates do not carry their application's URI`);
      if (serials.size !== issued) throw new Error(`${issued - serials.size} duplicate serials among ${issued} certificates`);

      return {
        sessions: { requested: clients, open: directories.length, refused },
        counts: { requestedPerRun: count, perRun, inProcessPerRun, warmupPerSecond: round(warmRate.perSecond), registered: ids.length - 1 },
        rawSign: rawSignMedians(rawSignRounds),
        issuance: rateThroughput(opcUaRuns),
        childClients: { ...rateThroughput(childRuns), open: childClients.open, refused: childClients.refused },
        inProcess: rateThroughput(inProcessRuns),
        sequential: { pairMs: latencyOf(pairs.latencies), startSigningRequestMs: latencyOf(starts), finishRequestMs: latencyOf(finishes), perSecond: round(pairs.perSecond) },
        verified: { certificates: issued, uriMatches, distinctSerials: serials.size, rowsBefore, rowsAfter, rowDeltasPerRun },
      };
    });

    await shutDown(run);

    return {
      backend,
      ...figures,
      ratio: {
        issuanceToCryptoSign: round(figures.issuance.median / figures.rawSign.syncPerSecond, 3),
        issuanceToSubtleSign: round(figures.issuance.median / figures.rawSign.subtlePerSecond, 3),
        issuanceToInProcess: round(figures.issuance.median / figures.inProcess.median, 3),
        childClientsToCryptoSign: round(figures.childClients.median / figures.rawSign.syncPerSecond, 3),
      },
      // Devices are other machines: the server's rate is the one with the clients elsewhere.
      targetMet: figures.childClients.median >= TARGET_PER_SECOND,
      serverErrors: run.errors.length,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Report

function table(results: BackendFigures[], options: Options): string {
  const c = options.clients;
  const rows: Array<Row<BackendFigures>> = [
    ["sessions open / requested", (r) => `${r.sessions.open} / ${r.sessions.requested}`],
    ["issuances per run (requested --count)", (r) => `${r.counts.perRun} (${r.counts.requestedPerRun})`],
    [`issuances over OPC UA, ${c} in flight, certs/s`, (r) => `${r.issuance.median}`],
    ["  runs", (r) => r.issuance.runs.join(", ")],
    ["  process CPU per issuance, ms (all threads)", (r) => `${r.issuance.cpuMsPerCall}`],
    ["  main-thread CPU per issuance, ms", (r) => `${r.issuance.mainThreadCpuMsPerCall ?? "n/a"}`],
    ["  process CPU, cores busy / main-thread ELU", (r) => `${r.issuance.cores} / ${r.issuance.eventLoop}`],
    [`issuances over OPC UA, clients in another process (${c} in flight), certs/s`, (r) => `${r.childClients.median}`],
    ["  runs", (r) => r.childClients.runs.join(", ")],
    ["  server process CPU per issuance, ms (all threads)", (r) => `${r.childClients.cpuMsPerCall}`],
    ["  server main-thread CPU per issuance, ms", (r) => `${r.childClients.mainThreadCpuMsPerCall ?? "n/a"}`],
    ["  server process CPU, cores busy / main-thread ELU", (r) => `${r.childClients.cores} / ${r.childClients.eventLoop}`],
    ["  ÷ crypto.sign/s", (r) => `${r.ratio.childClientsToCryptoSign}`],
    ["raw crypto.sign RSA-2048, 1 thread, signs/s", (r) => `${r.rawSign.syncPerSecond}`],
    ["  runs", (r) => r.rawSign.syncRuns.join(", ")],
    [`raw subtle.sign RSA-2048, ${c} in flight, signs/s`, (r) => `${r.rawSign.subtlePerSecond}`],
    ["  issuance/s ÷ crypto.sign/s", (r) => `${r.ratio.issuanceToCryptoSign}`],
    ["  issuance/s ÷ subtle.sign/s", (r) => `${r.ratio.issuanceToSubtleSign}`],
    [`CertificateService in process, ${c} in flight, certs/s`, (r) => `${r.inProcess.median} (${r.counts.inProcessPerRun}/run)`],
    ["  runs", (r) => r.inProcess.runs.join(", ")],
    ["  process CPU per issuance, ms (all threads)", (r) => `${r.inProcess.cpuMsPerCall}`],
    ["  main-thread CPU per issuance, ms", (r) => `${r.inProcess.mainThreadCpuMsPerCall ?? "n/a"}`],
    ["  process CPU, cores busy / main-thread ELU", (r) => `${r.inProcess.cores} / ${r.inProcess.eventLoop}`],
    ["  OPC UA ÷ in process", (r) => `${r.ratio.issuanceToInProcess}`],
    ["sequential Start+Finish p50 / p99, ms", (r) => `${r.sequential.pairMs.p50} / ${r.sequential.pairMs.p99}`],
    ["  StartSigningRequest p50 / p99, ms", (r) => `${r.sequential.startSigningRequestMs.p50} / ${r.sequential.startSigningRequestMs.p99}`],
    ["  FinishRequest p50 / p99, ms", (r) => `${r.sequential.finishRequestMs.p50} / ${r.sequential.finishRequestMs.p99}`],
    ["  sequential, certs/s", (r) => `${r.sequential.perSecond}`],
    ["verified: SAN URI = ApplicationUri", (r) => `${r.verified.uriMatches}/${r.verified.certificates}`],
    ["verified: distinct serials", (r) => `${r.verified.distinctSerials}/${r.verified.certificates}`],
    ["verified: issued_certificates rows added", (r) => `${r.verified.rowsAfter - r.verified.rowsBefore} (${r.verified.rowsBefore} -> ${r.verified.rowsAfter})`],
    [`target >= ${TARGET_PER_SECOND} certs/s over OPC UA (clients in another process)`, (r) => (r.targetMet ? "met" : "NOT met")],
    ["server errors logged", (r) => `${r.serverErrors}`],
  ];
  return renderTable(results, rows);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  // node-opcua writes its warnings with console.log: stdout is kept for the report.
  for (const level of ["log", "info", "warn", "debug"] as const) console[level] = (...args: unknown[]) => void process.stderr.write(`${util.format(...args)}\n`);
  const csrs = new CsrPool();
  const { results, clock } = await runBackends(options.backends, (backend) => runBackend(backend, options, csrs));

  const out: string[] = [];
  out.push(
    `opcua-gds issuance benchmark: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? "?"}), ${os.platform()}; ` +
      `SignAndEncrypt Basic256Sha256, user "admin" (CertificateAuthorityAdmin: issued at once), up to ${options.clients} OPCUAClient connections with one session each`,
  );
  out.push(
    `throughput: median of ${REPEATS} runs of StartSigningRequest+FinishRequest pairs, ${options.clients} in flight (round-robin over the open sessions), each for its own application and CSR; ` +
      `a run issues --count, cut to ${RUN_SECONDS} s at the warm-up rate (${WARMUP_CALLS} issuances; the client process issues ${CHILD_WARMUP_CALLS} untimed before its first run); ` +
      `in process: CertificateService.startSigningRequest+finishRequest (no OPC UA, no caller resolution), a quarter as many, interleaved with the OPC UA runs`,
  );
  out.push(
    `sequential: ${LATENCY_CALLS} pairs on one session; raw signing: ${RAW_SIGN_MS / 1000} s each, RSA-2048 PKCS#1 v1.5 SHA-256 over 1200 bytes, in every round right before its issuance runs (medians; the ratios divide medians); ` +
      `${csrs.csrs.length} CSRs (one shared key) made and applications registered in process before timing (CSRs: ${csrs.seconds.toFixed(1)} s)`,
  );
  out.push(
    "* \"over OPC UA\": client and server share this process, so the figure includes the client's encoding and SignAndEncrypt work; " +
      "\"clients in another process\": the same sessions and calls from a forked process, so this process's CPU is the server's alone (the target is judged on this one). CPU is process.cpuUsage over wall time.",
  );
  out.push("");
  out.push(table(results, options));
  out.push("");
  for (const r of results) if (r.sessions.refused) out.push(`${r.backend}: ${r.sessions.open} sessions instead of ${r.sessions.requested}: ${r.sessions.refused}`);
  out.push(totalLine(clock));
  process.stdout.write(`${out.join("\n")}\n`);
  const settings = { count: options.count, clients: options.clients, repeats: REPEATS, latencyCalls: LATENCY_CALLS, runSeconds: RUN_SECONDS, targetPerSecond: TARGET_PER_SECOND, csrSeconds: round(csrs.seconds) };
  process.stdout.write(`${reportJson("issuance", settings, clock, results)}\n`);
}

runMain("issuance-bench", main);
