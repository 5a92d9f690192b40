import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

// The compiled test lives in dist/test/unit; the sources in <repo>/src.
const SRC = path.resolve(__dirname, "../../../src");

/** Which top-level folders of src/ each folder may import from (ARCHITECTURE.md). */
const ALLOWED: Record<string, string[]> = {
  domain: ["domain"],
  services: ["domain", "services"],
  store: ["domain", "store", "services"],
  ca: ["domain", "ca", "config", "services"],
  config: ["domain", "config"],
  opcua: ["domain", "services", "opcua", "encoding"],
  client: ["domain", "client", "encoding"],
  // UA-binary encodings shared by the server (opcua), the client library and the push client.
  encoding: ["domain", "encoding"],
  // The push client: a node-opcua client of devices' ServerConfiguration, behind services' ports.
  push: ["domain", "services", "push", "encoding", "client"],
  metrics: ["domain", "services", "metrics"],
  // The scheduler: periodic tasks on services; leadership through its own port (implemented in store).
  lifecycle: ["domain", "services", "lifecycle"],
  simulator: ["domain", "config", "opcua", "simulator"],
  // The agent command runs on the client library (a GDS client like any other application).
  cli: ["domain", "services", "config", "cli", "client", "app.ts", "simulator"],
  "app.ts": ["domain", "services", "store", "ca", "config", "opcua", "push", "metrics", "backup", "lifecycle"],
  backup: ["domain", "config", "store", "backup"],
  "index.ts": ["app.ts", "config", "client"],
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(full) : e.name.endsWith(".ts") ? [full] : [];
  });
}

function layerOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0];
}

describe("import boundaries", () => {
  it("each layer imports only what ARCHITECTURE.md allows (services reach store, ca and opcua only through ports)", () => {
    const violations: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const from = layerOf(file);
      const text = fs.readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:import|export)[^"']*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g)) {
        const spec = m[1] ?? m[2];
        const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, ""));
        // A folder import ("../simulator") means its index.ts.
        const targetFile = target.endsWith(".ts") ? target : fs.existsSync(path.join(target, "index.ts")) ? path.join(target, "index.ts") : `${target}.ts`;
        const to = layerOf(targetFile);
        const allowed = ALLOWED[from];
        assert.ok(allowed, `no rule for ${from}`);
        if (!allowed.includes(to)) violations.push(`${path.relative(SRC, file)} -> ${spec} (${from} may not import ${to})`);
      }
    }
    assert.deepEqual(violations, []);
  });
});
