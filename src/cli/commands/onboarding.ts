import type { Command } from "commander";
import { parseDurationMs } from "../../domain/duration";
import { printJson, say } from "../output";
import { cliActor, withDataOptions, withServices, type DataOptions } from "./common";

function describe(closesAtMs: number, now: number): { open: boolean; closesAt: string | null } {
  return closesAtMs > now ? { open: true, closesAt: new Date(closesAtMs).toISOString() } : { open: false, closesAt: null };
}

/** `opcua-gds onboarding open|close|status`: the window in which unknown devices enrol themselves. */
export function registerOnboarding(program: Command): void {
  const onboarding = program.command("onboarding").description("let unknown devices register themselves and ask for certificates (always approved by hand)");

  withDataOptions(onboarding.command("open <duration>").description("open the onboarding window for a duration such as 2h (at most 7d)"))
    .option("--json", "print the result as JSON")
    .action(async (duration: string, options: DataOptions) => {
      const ms = parseDurationMs(duration);
      const window = await withServices(options, (s) => s.onboarding.open(cliActor(), ms));
      if (options.json) return printJson(describe(window.closesAtMs, Date.now()));
      say(`onboarding open until ${new Date(window.closesAtMs).toISOString()}; approve what enrols with \`opcua-gds request approve\``);
    });

  withDataOptions(onboarding.command("close").description("close the onboarding window now"))
    .option("--json", "print the result as JSON")
    .action(async (options: DataOptions) => {
      const closed = await withServices(options, (s) => s.onboarding.close(cliActor()));
      if (options.json) return printJson({ closed });
      say(closed ? "onboarding closed" : "no onboarding window was open");
    });

  withDataOptions(onboarding.command("status").description("is the onboarding window open?"))
    .option("--json", "print as JSON")
    .action(async (options: DataOptions) => {
      const window = await withServices(options, (s) => s.onboarding.refresh());
      const state = describe(window.closesAtMs, Date.now());
      if (options.json) return printJson(state);
      say(state.open ? `onboarding open until ${state.closesAt}` : "onboarding closed");
    });
}
