import { GdsError, type GdsErrorKind } from "../domain/errors";

/** Exit codes of the CLI, one per error kind (0 success, 1 unexpected failure). */
const EXIT_CODE_OF_KIND: Record<GdsErrorKind, number> = {
  InvalidArgument: 2,
  NotFound: 3,
  EntryExists: 4,
  WriteNotSupported: 4,
  Configuration: 5,
  UserAccessDenied: 6,
  SecurityModeInsufficient: 6,
  Conflict: 7,
  NotImplemented: 8,
  CertificateUriInvalid: 2,
  NothingToDo: 9,
  RequestNotAllowed: 10,
};

/** What to do next, per kind, for a person reading the message. */
const HINT_OF_KIND: Partial<Record<GdsErrorKind, string>> = {
  InvalidArgument: "check the arguments (opcua-gds help <command>)",
  NotFound: "list what exists with the matching list command (`app list`, `request list`, `cert list`, `user list`)",
};

/**
 * In JSON mode stdout carries only the JSON document: anything a library prints with console.log
 * (node-opcua does) goes to stderr instead.
 */
export function enterJsonMode(): void {
  console.log = console.error;
  console.info = console.error;
  console.warn = console.error;
}

/** Writes a JSON document to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints a line for a person. */
export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Reports an error on stderr and returns the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof GdsError) {
    const hint = HINT_OF_KIND[e.kind];
    process.stderr.write(`opcua-gds: ${e.message}${hint ? `\n  hint: ${hint}` : ""}\n`);
    return EXIT_CODE_OF_KIND[e.kind];
  }
  const err = e as { code?: string; message?: string };
  if (err?.code?.startsWith("commander.")) return 2;
  process.stderr.write(`opcua-gds: unexpected failure: ${err?.message ?? String(e)}\n`);
  return 1;
}

/** Reads all of stdin (for --password-stdin), without the final newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}
