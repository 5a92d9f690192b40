#!/usr/bin/env node
import { Command } from "commander";
import { registerAgent } from "./commands/agent";
import { registerApp } from "./commands/app";
import { registerAudit } from "./commands/audit";
import { registerBackup } from "./commands/backup";
import { registerCa } from "./commands/ca";
import { registerCert } from "./commands/cert";
import { registerExport } from "./commands/export";
import { registerRequest } from "./commands/request";
import { registerInit } from "./commands/init";
import { registerOnboarding } from "./commands/onboarding";
import { registerPush } from "./commands/push";
import { registerSimulate } from "./commands/simulate";
import { registerStart } from "./commands/start";
import { registerStatus } from "./commands/status";
import { registerUser } from "./commands/user";
import { enterJsonMode, reportError } from "./output";

/** The `opcua-gds` command line. */
export function buildProgram(): Command {
  const program = new Command("opcua-gds")
    .description("OPC UA Global Discovery Server (OPC 10000-12)")
    .showHelpAfterError()
    .exitOverride();
  registerInit(program);
  registerStart(program);
  registerUser(program);
  registerApp(program);
  registerRequest(program);
  registerCert(program);
  registerAudit(program);
  registerOnboarding(program);
  registerCa(program);
  registerStatus(program);
  registerPush(program);
  registerSimulate(program);
  registerAgent(program);
  registerExport(program);
  registerBackup(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--json")) enterJsonMode();
  try {
    await buildProgram().parseAsync(argv);
    // A command that finished but failed in part (one of many approvals) set the exit code itself.
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
    if (err?.code === "commander.helpDisplayed" || err?.code === "commander.version" || err?.code === "commander.help") return 0;
    if (err?.code?.startsWith("commander.")) return err.exitCode && err.exitCode !== 0 ? 2 : 0;
    return reportError(e);
  }
}

if (require.main === module) {
  main(process.argv).then((code) => {
    process.exitCode = code;
    // node-opcua and database pools may keep timers alive after a command has finished.
    setTimeout(() => process.exit(code), 50).unref();
  });
}
