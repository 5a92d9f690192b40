// The TAP reporter of node:test, plus one line per failed test just before the closing summary.
// A long run's output is often read from its end (CI keeps the tail): without this, a failure far
// up in 400+ tests is invisible there.
import { tap } from "node:test/reporters";

function oneLine(text, max) {
  const flat = String(text ?? "").replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function reason(details) {
  const error = details?.error;
  const cause = error?.cause ?? error;
  return oneLine(cause?.message ?? cause ?? "failed", 400);
}

async function* withFailureList(source) {
  const failures = [];
  let listed = false;
  for await (const event of source) {
    if (event.type === "test:fail" && event.data.details?.type !== "suite") {
      const where = event.data.file ? ` (${event.data.file.replace(/^.*\/dist\//, "dist/")})` : "";
      failures.push(`${oneLine(event.data.name, 200)}${where}: ${reason(event.data.details)}`);
    }
    const closing = event.type === "test:diagnostic" && event.data.nesting === 0 && /^tests \d+/.test(event.data.message);
    if (closing && !listed) {
      listed = true;
      if (failures.length > 0) {
        yield { type: "test:diagnostic", data: { nesting: 0, message: `failed tests (${failures.length}):` } };
        for (const line of failures) yield { type: "test:diagnostic", data: { nesting: 0, message: `  FAILED ${line}` } };
      }
    }
    yield event;
  }
}

export default async function* tapWithFailures(source) {
  yield* tap(withFailureList(source));
}
