import { say } from "./output";

/** How long a shutdown may take before the process exits anyway. */
const SHUTDOWN_LIMIT_MS = 10_000;

/**
 * Waits for SIGTERM or SIGINT, then runs `stop`; exits with 1 when stopping takes longer than 10 s.
 * Resolves once stopped (an error while stopping is reported, not thrown).
 */
export async function runUntilSignal(name: string, stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) return;
      stopping = true;
      say(`${signal}: stopping`);
      const limit = setTimeout(() => {
        process.stderr.write(`${name}: shutdown took longer than 10 s, exiting\n`);
        process.exit(1);
      }, SHUTDOWN_LIMIT_MS);
      limit.unref();
      stop().then(
        () => resolve(),
        (e: Error) => {
          process.stderr.write(`${name}: error while stopping: ${e.message}\n`);
          resolve();
        },
      );
    };
    process.once("SIGTERM", () => onSignal("SIGTERM"));
    process.once("SIGINT", () => onSignal("SIGINT"));
  });
}
