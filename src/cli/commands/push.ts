import fs from "node:fs/promises";
import type { Command } from "commander";
import { formatApplicationId, parseApplicationId } from "../../domain/application-id";
import type { GdsServices } from "../../app";
import { repairOperation } from "../../domain/distribution";
import { GdsError, invalidArgument } from "../../domain/errors";
import { parsePushOperation, type PushJobRecord, type PushOperation, type PushOutcome } from "../../domain/push";
import type { DriftReport } from "../../services/drift-detection";
import type { PushCredentials, PushSettingsView } from "../../services/push-devices";
import type { PushPlanEntry, QueuedPush } from "../../services/push-service";
import { enterJsonMode, printJson, readStdin, say } from "../output";
import { cliActor, integerOption, readCertificateFile, withDataOptions, withServices, type DataOptions } from "./common";

interface RunOptions extends DataOptions {
  all?: boolean;
  filter?: string;
  concurrency?: string;
  timeout?: string;
  retries?: string;
  dryRun?: boolean;
  trustDeviceCertificate?: boolean;
  keepKey?: boolean;
  queue?: boolean;
}

const DEFAULT_CONCURRENCY = 16;
const DEFAULT_TIMEOUT_S = 60;
const DEFAULT_RETRIES = 2;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Lines of a table with columns padded to their widest cell (the last column is not padded). */
function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join("  "));
}

/** Progress while a fleet is pushed: a redrawn bar on a terminal, one line per device otherwise. */
class Progress {
  private readonly tty = Boolean(process.stdout.isTTY);
  private counts = { ok: 0, failed: 0, skipped: 0 };

  constructor(private readonly quiet: boolean) {}

  outcome(o: PushOutcome, done: number, total: number): void {
    this.counts[o.result]++;
    if (this.quiet) return;
    if (!this.tty) return say(`${o.result.padEnd(7)} ${o.applicationUri}  ${o.endpointUrl ?? "-"}  ${seconds(o.durationMs)}  ${o.reason}`);
    if (o.result === "failed") this.above(`failed  ${o.applicationUri}: ${o.reason}`);
    this.bar(done, total);
  }

  retry(applicationUri: string, reason: string, delayMs: number): void {
    if (this.quiet) return;
    const line = `retry   ${applicationUri} in ${seconds(delayMs)}: ${reason}`;
    if (this.tty) this.above(line);
    else say(line);
  }

  note(line: string): void {
    if (this.quiet) return;
    if (this.tty) this.above(line);
    else say(line);
  }

  private above(line: string): void {
    process.stdout.write(`\r\x1b[2K${line}\n`);
  }

  private bar(done: number, total: number): void {
    const width = 30;
    const filled = total ? Math.round((done / total) * width) : width;
    process.stdout.write(`\r\x1b[2K[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}  ok ${this.counts.ok}  failed ${this.counts.failed}  skipped ${this.counts.skipped}`);
  }

  end(): void {
    if (this.tty && !this.quiet) process.stdout.write("\r\x1b[2K");
  }
}

function outcomeJson(o: PushOutcome) {
  return { ...o, applicationId: formatApplicationId(o.applicationId) };
}

function printSummary(outcomes: PushOutcome[], wallMs: number): void {
  const rows = [["RESULT", "APPLICATION", "ENDPOINT", "STEP", "TRIES", "REASON"]];
  const order = { failed: 0, skipped: 1, ok: 2 };
  for (const o of [...outcomes].sort((a, b) => order[a.result] - order[b.result] || a.applicationUri.localeCompare(b.applicationUri))) {
    rows.push([o.result, o.applicationUri, o.endpointUrl ?? "-", o.step, String(o.attempts), o.reason]);
  }
  for (const line of table(rows)) say(line);
  const count = (r: PushOutcome["result"]) => outcomes.filter((o) => o.result === r).length;
  say(`${count("ok")} ok, ${count("failed")} failed, ${count("skipped")} skipped of ${outcomes.length} in ${seconds(wallMs)}`);
}

function printPlan(plan: PushPlanEntry[]): void {
  const rows = [["APPLICATION", "ENDPOINT", "CREDENTIALS", "DEVICE CERTIFICATE", "NOTE"]];
  for (const p of plan) {
    const note = p.skip ?? (p.activeJob ? `resumes job ${p.activeJob.jobId} (${p.activeJob.state}, step ${p.activeJob.step})` : "");
    rows.push([p.applicationUri, p.endpointUrl ?? "-", p.credentials, p.deviceCertificate, note]);
  }
  for (const line of table(rows)) say(line);
  say(`dry run: ${plan.filter((p) => !p.skip).length} device(s) would be pushed, ${plan.filter((p) => p.skip).length} skipped; nothing was changed`);
}

function printQueued(queued: QueuedPush[]): void {
  const rows = [["APPLICATION", "JOB", "NOTE"], ...queued.map((q) => [q.applicationUri, q.jobId ?? "-", q.skip ?? "queued"])];
  for (const line of table(rows)) say(line);
  say(`${queued.filter((q) => q.jobId).length} job(s) queued for the running GDS, ${queued.filter((q) => !q.jobId).length} device(s) skipped; follow them with \`opcua-gds push jobs --active\``);
}

const DRIFT_WORDS: Record<DriftReport["state"], string> = { "in-sync": "in sync", drifted: "drifted", unreachable: "unreachable", excluded: "left out" };

function printDrift(reports: DriftReport[], repairs: Map<string, PushOutcome>): void {
  const rows = [["STATE", "APPLICATION", "ENDPOINT", "WHAT"]];
  for (const r of reports) {
    const repair = repairs.get(r.applicationId);
    const repaired = repair ? (repair.result === "ok" ? `; repaired (${repair.reason})` : `; repair ${repair.result}: ${repair.reason}`) : "";
    rows.push([DRIFT_WORDS[r.state], r.applicationUri, r.endpointUrl ?? "-", `${r.detail ?? ""}${repaired}`]);
  }
  for (const line of table(rows)) say(line);
  const count = (state: DriftReport["state"]) => reports.filter((r) => r.state === state).length;
  say(`${count("in-sync")} in sync, ${count("drifted")} drifted, ${count("unreachable")} unreachable, ${count("excluded")} left out, of ${reports.length} push-managed server(s)`);
}

/** Pushes back what drifted (the operation each device needs), one run per operation. */
async function repairDrift(s: GdsServices, reports: DriftReport[], timeoutMs: number): Promise<Map<string, PushOutcome>> {
  const byOperation = new Map<PushOperation, string[]>();
  for (const r of reports) {
    if (r.state !== "drifted" || !r.findings.length) continue;
    const op = repairOperation(r.findings);
    byOperation.set(op, [...(byOperation.get(op) ?? []), r.applicationId]);
  }
  const outcomes = new Map<string, PushOutcome>();
  for (const [operation, applicationIds] of byOperation) {
    const run = await s.push.run(cliActor(), { operation, selection: { applicationIds }, concurrency: DEFAULT_CONCURRENCY, timeoutMs, retries: DEFAULT_RETRIES, trustDeviceCertificate: false });
    for (const o of run) outcomes.set(o.applicationId, o);
  }
  return outcomes;
}

function settingsJson(v: PushSettingsView) {
  return { ...v, applicationId: formatApplicationId(v.applicationId) };
}

function printSettings(v: PushSettingsView): void {
  say(`application: ${formatApplicationId(v.applicationId)} ${v.applicationUri}`);
  say(`endpoint: ${v.endpointUrl ?? "(none)"}${v.endpointIsDefault ? " (first DiscoveryUrl)" : ""}`);
  say(`credentials: ${v.credentials}`);
  say(`pinned device certificate: ${v.pinnedThumbprint ?? "(none)"}`);
  if (v.extraTrustedCertificates.length) say(`also trusted on the device: ${v.extraTrustedCertificates.join(", ")}`);
  say(`maintenance window: ${v.maintenanceWindow ? `${v.maintenanceWindow} (${v.maintenanceTimeZone})` : "(none: any time)"}`);
  say(`automatic renewal: ${v.autoRenew ? "on" : "off"}`);
}

function jobJson(j: PushJobRecord) {
  const at = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    jobId: j.jobId,
    applicationId: formatApplicationId(j.applicationId),
    operation: j.operation,
    state: j.state,
    step: j.step,
    attempts: j.attempts,
    lastStatus: j.lastStatus,
    reason: j.reason,
    owner: j.owner,
    serial: j.issuedSerialHex,
    nextAttemptAt: j.state === "queued" ? at(j.nextAttemptAtMs) : null,
    createdBy: j.createdBy,
    createdAt: at(j.createdAtMs),
    updatedAt: at(j.updatedAtMs),
    finishedAt: at(j.finishedAtMs),
  };
}

/** `opcua-gds push cert|trustlist|all|credentials|endpoint|window|auto-renew|show|rejected|drift|jobs`. */
export function registerPush(program: Command): void {
  const push = program.command("push").description("push certificates and trust lists to OPC UA servers (their ServerConfiguration)");

  for (const [name, what] of [
    ["cert", "a new certificate (CreateSigningRequest, or a GDS-made key when the device cannot make one)"],
    ["trustlist", "the trust list (the GDS CA and its CRL)"],
    ["all", "the trust list, then a new certificate"],
  ] as const) {
    withDataOptions(push.command(`${name} [ids...]`).description(`push ${what} to the named applications, or --all, or --filter`))
      .option("--all", "every registered server")
      .option("--filter <pattern>", "only applications whose ApplicationUri matches this pattern (% any run, _ one character)")
      .option("--concurrency <n>", `devices at once (default ${DEFAULT_CONCURRENCY})`)
      .option("--timeout <seconds>", `longest time of one attempt on one device (default ${DEFAULT_TIMEOUT_S})`)
      .option("--retries <n>", `further attempts, with exponential back-off, for devices out of reach or busy (default ${DEFAULT_RETRIES})`)
      .option("--dry-run", "show what would be pushed to whom, without connecting")
      .option("--trust-device-certificate", "pin the certificate an unknown device presents now (you have checked its thumbprint)")
      .option("--keep-key", "let devices keep their key pair (CreateSigningRequest without RegeneratePrivateKey); default: a new key pair")
      .option("--queue", "hand the jobs to the running GDS (its scheduler runs them) and return at once; follow them with `push jobs`")
      .option("--json", "print the outcomes as JSON")
      .action(async (ids: string[], options: RunOptions) => {
        const operation = parsePushOperation(name);
        const selection = { applicationIds: ids.map(parseApplicationId), all: options.all, uriPattern: options.filter };
        const concurrency = integerOption(options.concurrency, "--concurrency", 1, 256, DEFAULT_CONCURRENCY);
        const timeoutMs = integerOption(options.timeout, "--timeout", 1, 3600, DEFAULT_TIMEOUT_S) * 1000;
        const retries = integerOption(options.retries, "--retries", 0, 20, DEFAULT_RETRIES);
        if (ids.length && options.all) throw invalidArgument("name applications or give --all, not both");
        if (!ids.length && !options.all && !options.filter) throw invalidArgument("name applications (ns=1;g=...), or give --all or --filter PATTERN");
        if (options.queue) {
          // These shape a run in this process; the scheduler runs queued jobs with its own settings.
          const local = (["concurrency", "timeout", "trustDeviceCertificate", "keepKey", "dryRun"] as const).filter((o) => options[o] !== undefined);
          if (local.length) throw invalidArgument(`--queue hands the jobs to the running GDS, whose scheduler runs them with its own settings: drop ${local.map((o) => `--${o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ")} (pin unknown devices first with \`opcua-gds app trust ID\`)`);
          const queued = await withServices(options, (s) => s.push.queueRollout(cliActor(), { operation, selection, retries }));
          if (options.json) return printJson({ operation, jobs: queued.map((q) => ({ ...q, applicationId: formatApplicationId(q.applicationId) })) });
          return printQueued(queued);
        }
        // node-opcua prints warnings with console.log: stdout keeps only the outcomes.
        enterJsonMode();
        await withServices(options, async (s) => {
          if (options.dryRun) {
            const plan = await s.push.plan(selection);
            if (options.json) return printJson(plan.map((p) => ({ ...p, applicationId: formatApplicationId(p.applicationId) })));
            return printPlan(plan);
          }
          const progress = new Progress(Boolean(options.json));
          const abort = new AbortController();
          const onSignal = () => abort.abort();
          process.once("SIGINT", onSignal);
          process.once("SIGTERM", onSignal);
          const t0 = Date.now();
          try {
            const outcomes = await s.push.run(cliActor(), {
              operation,
              selection,
              concurrency,
              timeoutMs,
              retries,
              trustDeviceCertificate: Boolean(options.trustDeviceCertificate),
              regeneratePrivateKey: !options.keepKey,
              signal: abort.signal,
              onOutcome: (o, done, total) => progress.outcome(o, done, total),
              onRetry: (uri, reason, delayMs) => progress.retry(uri, reason, delayMs),
              onRefresh: (count) => progress.note(`the trust list changed during the run (a revocation): sending it again to ${count} device(s)`),
            });
            progress.end();
            if (options.json) printJson({ operation, wallMs: Date.now() - t0, outcomes: outcomes.map(outcomeJson) });
            else printSummary(outcomes, Date.now() - t0);
            if (outcomes.some((o) => o.result !== "ok")) process.exitCode = 1;
          } finally {
            process.off("SIGINT", onSignal);
            process.off("SIGTERM", onSignal);
          }
        });
      });
  }

  withDataOptions(push.command("credentials <id>").description("store how the GDS logs in on a device (encrypted with the data folder's key)"))
    .option("--user <name>", "user name (the device must give it the SecurityAdmin role)")
    .option("--password-stdin", "read the password from standard input")
    .option("--x509-certificate <file>", "X509 user token: certificate (PEM or DER)")
    .option("--x509-key <file>", "X509 user token: its private key (PEM)")
    .option("--clear", "forget the device's credentials: the fleet default (OPCUA_GDS_PUSH_USER) applies")
    .option("--json", "print the settings as JSON")
    .action(async (id: string, options: DataOptions & { user?: string; passwordStdin?: boolean; x509Certificate?: string; x509Key?: string; clear?: boolean }) => {
      const applicationId = parseApplicationId(id);
      const kinds = [options.user !== undefined, options.x509Certificate !== undefined || options.x509Key !== undefined, Boolean(options.clear)].filter(Boolean).length;
      if (kinds !== 1) throw invalidArgument("give --user NAME --password-stdin, or --x509-certificate FILE --x509-key FILE, or --clear");
      let credentials: PushCredentials = null;
      if (options.user !== undefined) {
        if (!options.passwordStdin) throw invalidArgument("give the password on standard input with --password-stdin (never on the command line)");
        credentials = { userName: options.user, password: await readStdin() };
      } else if (!options.clear) {
        if (!options.x509Certificate || !options.x509Key) throw invalidArgument("--x509-certificate and --x509-key go together");
        const key = await fs.readFile(options.x509Key, "utf8").catch(() => {
          throw invalidArgument(`cannot read private key file ${options.x509Key}`);
        });
        if (!/-----BEGIN (RSA |ENCRYPTED )?PRIVATE KEY-----/.test(key)) throw invalidArgument(`${options.x509Key} is not a PEM private key`);
        credentials = { certificateDer: await readCertificateFile(options.x509Certificate), privateKeyPem: key };
      }
      const view = await withServices(options, (s) => s.push.devices.setCredentials(cliActor(), applicationId, credentials));
      if (options.json) return printJson(settingsJson(view));
      say(`push credentials of ${view.applicationUri}: ${view.credentials}`);
    });

  withDataOptions(push.command("endpoint <id> [url]").description("set the endpoint pushes go to (default: the first opc.tcp DiscoveryUrl)"))
    .option("--default", "go back to the first DiscoveryUrl")
    .option("--json", "print the settings as JSON")
    .action(async (id: string, url: string | undefined, options: DataOptions & { default?: boolean }) => {
      if (Boolean(url) === Boolean(options.default)) throw invalidArgument("give an opc.tcp:// URL or --default");
      const view = await withServices(options, (s) => s.push.devices.setEndpoint(cliActor(), parseApplicationId(id), url ?? null));
      if (options.json) return printJson(settingsJson(view));
      say(`pushes to ${view.applicationUri} go to ${view.endpointUrl ?? "(no endpoint)"}`);
    });

  withDataOptions(push.command("window <id> [spec]").description('set when the scheduler may start pushes to a device, e.g. "Mon-Fri 22:00-04:00; Sat,Sun 00:00-24:00"'))
    .option("--timezone <zone>", "time zone of the window, an IANA name such as Europe/Berlin (default UTC)")
    .option("--clear", "no window: the scheduler pushes at any time")
    .option("--json", "print the settings as JSON")
    .action(async (id: string, spec: string | undefined, options: DataOptions & { timezone?: string; clear?: boolean }) => {
      if (Boolean(spec) === Boolean(options.clear)) throw invalidArgument('give a window such as "Mon-Fri 22:00-04:00; Sat,Sun 00:00-24:00", or --clear');
      if (options.clear && options.timezone) throw invalidArgument("--timezone goes with a window, not with --clear");
      const view = await withServices(options, (s) => s.push.devices.setMaintenanceWindow(cliActor(), parseApplicationId(id), spec ?? null, options.timezone ?? null));
      if (options.json) return printJson(settingsJson(view));
      say(view.maintenanceWindow ? `the scheduler starts pushes to ${view.applicationUri} only within ${view.maintenanceWindow} (${view.maintenanceTimeZone})` : `the scheduler pushes to ${view.applicationUri} at any time`);
    });

  withDataOptions(push.command("auto-renew <id> <on|off>").description("let the scheduler renew a push-managed device's certificate by itself (on, the default) or not (off)"))
    .option("--json", "print the settings as JSON")
    .action(async (id: string, state: string, options: DataOptions) => {
      if (state !== "on" && state !== "off") throw invalidArgument(`"${state.slice(0, 20)}" is not on or off`);
      const view = await withServices(options, (s) => s.push.devices.setAutoRenew(cliActor(), parseApplicationId(id), state === "on"));
      if (options.json) return printJson(settingsJson(view));
      say(`automatic renewal of ${view.applicationUri}: ${view.autoRenew ? "on" : "off"}`);
    });

  withDataOptions(push.command("show <id>").description("show the push settings of an application (never a secret)"))
    .option("--json", "print as JSON")
    .action(async (id: string, options: DataOptions) => {
      const view = await withServices(options, (s) => s.push.devices.settingsOf(parseApplicationId(id)));
      if (options.json) return printJson(settingsJson(view));
      printSettings(view);
    });

  withDataOptions(push.command("rejected <id>").description("list the client certificates a device rejected (GetRejectedList); --trust adds one to its trust list"))
    .option("--trust <thumbprint>", "add this rejected certificate to the device's trusted certificates (AddCertificate); later trust-list pushes keep it")
    .option("--timeout <seconds>", `longest wait for the device (default ${DEFAULT_TIMEOUT_S})`)
    .option("--json", "print as JSON")
    .action(async (id: string, options: DataOptions & { trust?: string; timeout?: string }) => {
      const timeoutMs = integerOption(options.timeout, "--timeout", 1, 3600, DEFAULT_TIMEOUT_S) * 1000;
      const result = await withServices(options, (s) => s.push.devices.rejectedCertificates(cliActor(), parseApplicationId(id), { timeoutMs, trustThumbprint: options.trust }));
      if (options.json) return printJson(result);
      if (result.rejected.length === 0) say("the device has rejected no certificate (or does not keep a list)");
      else for (const line of table([["THUMBPRINT", "APPLICATION URI", "SUBJECT"], ...result.rejected.map((r) => [r.thumbprint, r.applicationUri ?? "-", r.subject])])) say(line);
      if (result.trusted) say(`added ${result.trusted.thumbprint} (${result.trusted.subject}) to the device's trusted certificates`);
    });

  withDataOptions(push.command("drift [ids...]").description("read back the certificate and trust list of push-managed servers now and compare them with what the GDS pushed"))
    .option("--repair", "push back what drifted right away (trust list, certificate or both)")
    .option("--timeout <seconds>", `longest wait for one device (default ${DEFAULT_TIMEOUT_S})`)
    .option("--json", "print as JSON")
    .action(async (ids: string[], options: DataOptions & { repair?: boolean; timeout?: string }) => {
      const timeoutMs = integerOption(options.timeout, "--timeout", 1, 3600, DEFAULT_TIMEOUT_S) * 1000;
      enterJsonMode();
      await withServices(options, async (s) => {
        const reports = await s.drift.check(cliActor(), { applicationIds: ids.length ? ids.map(parseApplicationId) : undefined, repair: false, timeoutMs });
        if (ids.length && reports.length < new Set(ids).size) throw new GdsError("NotFound", "some of the named applications are not push-managed servers (no push to them has succeeded yet): push to them first");
        const repairs = options.repair ? await repairDrift(s, reports, timeoutMs) : new Map<string, PushOutcome>();
        if (options.json) printJson(reports.map((r) => ({ ...r, applicationId: formatApplicationId(r.applicationId), repair: repairs.get(r.applicationId) ? outcomeJson(repairs.get(r.applicationId)!) : null })));
        else printDrift(reports, repairs);
        const unresolved = reports.filter((r) => r.state === "unreachable" || (r.state === "drifted" && repairs.get(r.applicationId)?.result !== "ok"));
        if (unresolved.length) process.exitCode = 1;
      });
    });

  withDataOptions(push.command("jobs").description("list push jobs, newest first"))
    .option("--app <id>", "only the jobs of one application")
    .option("--active", "only queued and running jobs")
    .option("--json", "print as JSON")
    .action(async (options: DataOptions & { app?: string; active?: boolean }) => {
      const jobs = await withServices(options, (s) => s.push.listJobs({ applicationId: options.app ? parseApplicationId(options.app) : undefined, activeOnly: options.active }));
      if (options.json) return printJson(jobs.map(jobJson));
      if (jobs.length === 0) return say("no push jobs");
      for (const line of table([["JOB", "APPLICATION", "OPERATION", "STATE", "STEP", "TRIES", "REASON"], ...jobs.map((j) => [j.jobId, formatApplicationId(j.applicationId), j.operation, j.state, j.step, String(j.attempts), j.reason ?? ""])])) say(line);
    });
}
