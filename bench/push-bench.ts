/**
 * Push benchmark: certificate and trust list (`push all`) to `--devices` simulated devices running
 * in another process (`opcua-gds simulate`), from a GDS in this process, at 16 devices at once and
 * at one at a time, in the same run; prints both wall times and their ratio.
 *
 *   node dist/bench/push-bench.js [--backend sqlite|postgres] [--devices N] [--concurrency N]
 *
 * The devices start unknown and uncommissioned; a first push (--trust-device-certificate) pins
 * their self-signed certificates and writes the trust list, and is timed too ("first contact").
 * Then two rotations are timed: at `--concurrency` and at 1. Every push of every run must succeed,
 * and afterwards every device must present the certificate issued to it in the last run.
 *
 * Prints a plain table on stdout and, as its last line, every figure as one JSON object. Progress
 * goes to stderr. Default backend: SQLite (the default database); `--backend postgres` for the other.
 */
import "reflect-metadata";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { thumbprintOf } from "../src/domain/thumbprint";
import type { PushOutcome } from "../src/domain/push";
import type { GdsServices } from "../src/app";
import { inspectCertificate } from "../test/helpers/certificates";
import { setCliWorkDir } from "../test/helpers/cli";
import type { Backend } from "../test/helpers/databases";
import { presentedCertificate, startSimulator, type Simulator } from "../test/helpers/simulator";
import { launch, log, parseBenchArgs, renderTable, reportJson, round, runBackends, runMain, shutDown, totalLine, withBackend } from "./bench-kit";

interface Options {
  backends: Backend[];
  devices: number;
  concurrency: number;
}

const DEVICE_PASSWORD = "bench-device-password";
const TARGET_SECONDS = 30;

interface Timed {
  seconds: number;
  /** CPU of this process (the GDS) and of the simulator's process, seconds. */
  cpuSeconds: number;
  simulatorCpuSeconds: number;
  outcomes: PushOutcome[];
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ). */
const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
  // After "pid (comm) ", utime and stime are the 12th and 13th fields.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

interface Result {
  backend: Backend;
  devices: number;
  simulatorStartSeconds: number;
  firstContact: Timed;
  concurrent: Timed;
  sequential: Timed;
  ratio: number;
}

async function timedPush(services: GdsServices, simulatorPid: number, concurrency: number, trustDeviceCertificate: boolean, label: string): Promise<Timed> {
  const cpu0 = process.cpuUsage();
  const simulator0 = processCpuSeconds(simulatorPid);
  const t0 = performance.now();
  let done = 0;
  const outcomes = await services.push.run("bench", {
    operation: "all",
    selection: { all: true },
    concurrency,
    timeoutMs: 120_000,
    retries: 1,
    trustDeviceCertificate,
    onOutcome: (_o, n, total) => {
      done = n;
      if (n % 20 === 0 || n === total) log(`${label}: ${n}/${total}`);
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const failed = outcomes.filter((o) => o.result !== "ok");
  if (failed.length) throw new Error(`${label}: ${failed.length} of ${done} pushes did not succeed, e.g. ${failed[0].applicationUri}: ${failed[0].reason}`);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, simulatorCpuSeconds: processCpuSeconds(simulatorPid) - simulator0, outcomes };
}

async function runOne(backend: Backend, o: Options): Promise<Result> {
  return withBackend(backend, async (run) => {
    const { gds } = await launch(run);
    setCliWorkDir(run.dataDir);
    log(`${backend}: starting ${o.devices} simulated devices in a child process`);
    const t0 = performance.now();
    let simulator: Simulator | null = null;
    try {
      simulator = await startSimulator({ count: o.devices, dataDir: path.join(run.dataDir, "devices"), password: DEVICE_PASSWORD, timeoutMs: 600_000 });
      const simulatorStartSeconds = (performance.now() - t0) / 1000;
      const services = gds.gds.services;
      // The push user of the whole fleet, as OPCUA_GDS_PUSH_USER would set it.
      for (const device of simulator.devices) {
        const own = inspectCertificate(await presentedCertificate(device.endpointUrl));
        const port = new URL(device.endpointUrl.replace("opc.tcp:", "http:")).port;
        const id = await services.directory.registerApplication("bench", {
          applicationUri: device.applicationUri,
          applicationType: 0,
          applicationNames: [{ locale: "en", text: `Simulated device ${device.index}` }],
          productUri: "urn:opcua-gds:simulator",
          discoveryUrls: [...new Set([device.endpointUrl, ...[...own.ipAddresses, ...own.dnsNames].map((h) => `opc.tcp://${h}:${port}`)])],
          serverCapabilities: [],
        });
        await services.push.devices.setCredentials("bench", id, { userName: "admin", password: DEVICE_PASSWORD });
      }
      log(`${backend}: first contact (pin, trust list, certificate) at ${o.concurrency} at once`);
      const pid = simulator.process.child.pid!;
      const firstContact = await timedPush(services, pid, o.concurrency, true, "first contact");
      log(`${backend}: rotation at ${o.concurrency} at once`);
      const concurrent = await timedPush(services, pid, o.concurrency, false, `concurrency ${o.concurrency}`);
      log(`${backend}: rotation one at a time`);
      const sequential = await timedPush(services, pid, 1, false, "concurrency 1");
      // Proof, not status codes: every device presents the certificate of the last rotation.
      const issued = new Map((await services.certificates.listCertificates({})).map((c) => [c.serialHex, c.thumbprint]));
      for (const outcome of sequential.outcomes) {
        const device = simulator.devices.find((d) => d.applicationUri === outcome.applicationUri)!;
        const presented = thumbprintOf(await presentedCertificate(device.endpointUrl));
        if (presented !== issued.get(outcome.serialHex!)) throw new Error(`${device.applicationUri} presents ${presented}, not the certificate ${outcome.serialHex} issued to it`);
      }
      log(`${backend}: all ${o.devices} devices present the certificate issued in the last rotation`);
      return { backend, devices: o.devices, simulatorStartSeconds, firstContact, concurrent, sequential, ratio: sequential.seconds / concurrent.seconds };
    } finally {
      await simulator?.stop();
      await shutDown(run);
    }
  });
}

async function main(): Promise<void> {
  const o = parseBenchArgs<Options>(
    "push-bench",
    process.argv.slice(2),
    { backends: ["sqlite"], devices: 100, concurrency: 16 },
    {
      "--devices": { key: "devices", valid: (n) => n >= 1 && n <= 1000, rule: "from 1 to 1000" },
      "--concurrency": { key: "concurrency", valid: (n) => n >= 1 && n <= 256, rule: "from 1 to 256" },
    },
  );
  const { results, clock } = await runBackends(o.backends, (b) => runOne(b, o));
  const s = (t: Timed) => `${t.seconds.toFixed(1)} s`;
  process.stdout.write(
    `${renderTable(results, [
      ["devices (simulated, child process)", (r) => String(r.devices)],
      ["simulator start-up", (r) => `${r.simulatorStartSeconds.toFixed(1)} s`],
      [`first contact + commissioning, ${o.concurrency} at once`, (r) => s(r.firstContact)],
      [`rotation (trust list + certificate), ${o.concurrency} at once`, (r) => s(r.concurrent)],
      ["rotation, one at a time", (r) => s(r.sequential)],
      [`ratio one at a time / ${o.concurrency} at once`, (r) => r.ratio.toFixed(2)],
      [`CPU per device, ${o.concurrency} at once: GDS process`, (r) => `${((r.concurrent.cpuSeconds / r.devices) * 1000).toFixed(0)} ms`],
      [`CPU per device, ${o.concurrency} at once: simulator process`, (r) => `${((r.concurrent.simulatorCpuSeconds / r.devices) * 1000).toFixed(0)} ms`],
      [`target ${o.devices} devices <= ${TARGET_SECONDS} s`, (r) => (r.concurrent.seconds <= TARGET_SECONDS ? "met" : "not met")],
    ])}\n${totalLine(clock)}\n`,
  );
  const figures = results.map((r) => ({
    backend: r.backend,
    devices: r.devices,
    simulatorStartSeconds: round(r.simulatorStartSeconds),
    firstContactSeconds: round(r.firstContact.seconds, 2),
    concurrentSeconds: round(r.concurrent.seconds, 2),
    sequentialSeconds: round(r.sequential.seconds, 2),
    ratio: round(r.ratio, 2),
    gdsCpuSecondsConcurrent: round(r.concurrent.cpuSeconds, 2),
    simulatorCpuSecondsConcurrent: round(r.concurrent.simulatorCpuSeconds, 2),
  }));
  process.stdout.write(`${reportJson("push-bench", { concurrency: o.concurrency }, clock, figures)}\n`);
}

runMain("push-bench", main);
