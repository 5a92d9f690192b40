import type { Command } from "commander";
import { parseSince } from "../../domain/duration";
import { printJson, say } from "../output";
import { withDataOptions, withServices, type DataOptions } from "./common";

/** `opcua-gds audit`: the audit trail. */
export function registerAudit(program: Command): void {
  withDataOptions(program.command("audit").description("show the audit trail"))
    .option("--since <time>", "from this date (ISO) or this long ago (24h, 7d)", "24h")
    .option("--limit <n>", "at most this many records", "1000")
    .option("--json", "print as JSON")
    .action(async (options: DataOptions & { since: string; limit: string }) => {
      const since = parseSince(options.since, Date.now());
      const limit = Math.max(1, Math.min(100_000, Number(options.limit) || 1000));
      const records = await withServices(options, (s) => s.audit.since(since, limit));
      if (options.json) return printJson(records.map((r) => ({ ...r, at: new Date(r.atMs).toISOString() })));
      if (records.length === 0) return say("no audit records in that period");
      for (const r of records) say(`${new Date(r.atMs).toISOString()}\t${r.actor}\t${r.action}\t${r.outcome}\t${r.subject}${r.details ? `\t${r.details}` : ""}`);
    });
}
