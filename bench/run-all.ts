/**
 * `npm run bench`: every benchmark of the scale-out issue, one after the other, each in its own
 * process on SQLite and PostgreSQL, then one table of the figures against the targets of these
 * 2-core machines. Each benchmark's own report (with its details and ratios) goes to stderr as it
 * runs; stdout ends with the summary table and, as its last line, every figure as one JSON object.
 *
 *   node dist/bench/run-all.js [--apps N] [--devices N] [--rows N] [--only scale,issuance,push,renewal]
 */
import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { log, round } from "./bench-kit";

interface Bench {
  name: string;
  script: string;
  args: string[];
}

/** The last line of a benchmark's stdout: its figures. */
type Report = { results: Array<Record<string, unknown> & { backend: string }> } & Record<string, unknown>;

function parseArgs(argv: string[]): { apps: number; devices: number; rows: number; only: Set<string> | null } {
  const out = { apps: 100_000, devices: 100, rows: 1_000_000, only: null as Set<string> | null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--only" && value) out.only = new Set(value.split(","));
    else if ((flag === "--apps" || flag === "--devices" || flag === "--rows") && value && /^\d+$/.test(value)) out[flag.slice(2) as "apps" | "devices" | "rows"] = Number(value);
    else {
      process.stderr.write("usage: run-all [--apps N] [--devices N] [--rows N] [--only scale,issuance,push,renewal]\n");
      process.exit(2);
    }
    i++;
  }
  return out;
}

function runBench(bench: Bench): Promise<Report> {
  return new Promise((resolve, reject) => {
    log(`running ${bench.name}: node ${bench.script} ${bench.args.join(" ")}`);
    const child = spawn(process.execPath, [path.join(__dirname, bench.script), ...bench.args], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      process.stderr.write(d);
    });
    child.once("exit", (code) => {
      const last = stdout.trim().split("\n").pop() ?? "";
      if (code !== 0 || !last.startsWith("{")) return reject(new Error(`${bench.name} failed (exit ${code})`));
      resolve(JSON.parse(last) as Report);
    });
  });
}

/** A figure of one backend's result, by path ("issuance.median"). */
function figure(report: Report | undefined, backend: string, at: string): unknown {
  const result = report?.results.find((r) => r.backend === backend);
  return at.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), result);
}

type Line = [label: string, cell: (backend: string) => string, target: string, met: (backend: string) => boolean | null];

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const benches: Bench[] = [
    { name: "scale", script: "scale-bench.js", args: ["--apps", String(options.apps)] },
    { name: "issuance", script: "issuance-bench.js", args: [] },
    { name: "push-sqlite", script: "push-bench.js", args: ["--backend", "sqlite", "--devices", String(options.devices)] },
    { name: "push-postgres", script: "push-bench.js", args: ["--backend", "postgres", "--devices", String(options.devices)] },
    { name: "renewal", script: "renewal-bench.js", args: ["--rows", String(options.rows)] },
  ].filter((b) => !options.only || options.only.has(b.name.replace(/-.*/, "")));

  const loadBefore = os.loadavg()[0];
  const t0 = performance.now();
  const reports = new Map<string, Report>();
  const failures: string[] = [];
  for (const b of benches) {
    try {
      reports.set(b.name, await runBench(b));
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  const scale = reports.get("scale");
  const issuance = reports.get("issuance");
  const renewal = reports.get("renewal");
  const push = (backend: string) => reports.get(`push-${backend}`);
  const num = (v: unknown) => (typeof v === "number" ? v : NaN);
  const show = (v: unknown, unit = "") => (typeof v === "number" ? `${v}${unit}` : "-");
  const atMost = (v: unknown, limit: number) => (typeof v === "number" ? v <= limit : null);
  const atLeast = (v: unknown, limit: number) => (typeof v === "number" ? v >= limit : null);

  const lines: Line[] = [
    ["RegisterApplication/s, 16 in flight", (b) => show(figure(scale, b, "register.median")), ">= 2,000", (b) => atLeast(figure(scale, b, "register.median"), 2000)],
    [`FindApplications p50 / p99 (${options.apps} apps), ms`, (b) => `${show(figure(scale, b, "latencyMs.findApplications.p50"))} / ${show(figure(scale, b, "latencyMs.findApplications.p99"))}`, "", () => null],
    [
      "QueryApplications p50 / p99 (one URI; page of 100), ms",
      (b) =>
        `${show(figure(scale, b, "latencyMs.queryApplicationsOneUri.p50"))} / ${show(figure(scale, b, "latencyMs.queryApplicationsOneUri.p99"))}; ` +
        `${show(figure(scale, b, "latencyMs.queryApplicationsPage100.p50"))} / ${show(figure(scale, b, "latencyMs.queryApplicationsPage100.p99"))}`,
      "p99 <= 20 ms",
      (b) => atMost(Math.max(num(figure(scale, b, "latencyMs.queryApplicationsOneUri.p99")), num(figure(scale, b, "latencyMs.queryApplicationsPage100.p99"))), 20),
    ],
    ["issuances/s over OPC UA, 16 clients (another process)", (b) => show(figure(issuance, b, "childClients.median")), ">= 300", (b) => atLeast(figure(issuance, b, "childClients.median"), 300)],
    ["  raw crypto.sign RSA-2048/s, same run; ratio", (b) => `${show(figure(issuance, b, "rawSign.syncPerSecond"))}; ${show(figure(issuance, b, "ratio.childClientsToCryptoSign"))}`, "", () => null],
    [`push rollout, ${options.devices} devices, 16 at once, s`, (b) => show(figure(push(b), b, "concurrentSeconds")), "<= 30 s", (b) => atMost(figure(push(b), b, "concurrentSeconds"), 30)],
    ["  ratio one at a time / 16 at once", (b) => show(figure(push(b), b, "ratio")), "", () => null],
    [`renewal planning over ${options.rows} certificate rows, s`, (b) => show(figure(renewal, b, "planSeconds")), "<= 2 s", (b) => atMost(figure(renewal, b, "planSeconds"), 2)],
    [`RSS idle / peak under load (${options.apps} apps), MiB`, (b) => `${show(figure(scale, b, "rss.idleMiB"))} / ${show(figure(scale, b, "rss.hwmMiB"))}`, "<= 250 MiB", (b) => atMost(figure(scale, b, "rss.hwmMiB"), 250)],
    [`start-up with ${options.apps} apps, ms`, (b) => show(figure(scale, b, "startup.medianMs")), "<= 3,000 ms", (b) => atMost(figure(scale, b, "startup.medianMs"), 3000)],
  ];
  const backends = ["sqlite", "postgres"];
  const verdict = (l: Line) =>
    backends
      .map((b) => l[3](b))
      .map((m) => (m === null ? "-" : m ? "met" : "NOT met"))
      .join(" / ");
  const rows = [["metric", ...backends, "target", "met (sqlite / postgres)"], ...lines.map((l) => [l[0], ...backends.map((b) => l[1](b)), l[2], l[2] ? verdict(l) : ""])];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const render = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("   ");
  const out = [
    "",
    `opcua-gds benchmarks: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? "?"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB; medians; each benchmark's own report above has its runs and details`,
    render(rows[0]),
    widths.map((w) => "-".repeat(w)).join("   "),
    ...rows.slice(1).map(render),
    "",
    `total ${round((performance.now() - t0) / 1000)} s; 1-minute load average ${loadBefore.toFixed(2)} before, ${os.loadavg()[0].toFixed(2)} after`,
    ...failures.map((f) => `FAILED: ${f}`),
  ];
  process.stdout.write(`${out.join("\n")}\n`);
  process.stdout.write(`${JSON.stringify({ bench: "all", reports: Object.fromEntries(reports), failures })}\n`);
  if (failures.length) process.exitCode = 1;
}

main().catch((e: Error) => {
  process.stderr.write(`run-all failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
