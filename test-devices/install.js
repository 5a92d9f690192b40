"use strict";
// Installs the test-only devices' own dependency trees (each folder here pins a stack that cannot
// share node_modules with the product), and SoftHSM2, the PKCS#11 token of the HSM tests. Runs
// before the tests; does nothing when a folder's node_modules already matches its
// package-lock.json and SoftHSM2 is installed.
const { createHash } = require("node:crypto");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

for (const entry of fs.readdirSync(__dirname, { withFileTypes: true })) {
  if (!entry.isDirectory()) continue;
  const folder = path.join(__dirname, entry.name);
  const lock = path.join(folder, "package-lock.json");
  if (!fs.existsSync(lock)) continue;
  const wanted = createHash("sha256").update(fs.readFileSync(lock)).digest("hex");
  const stamp = path.join(folder, "node_modules", ".installed-lock-sha256");
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === wanted) continue;
  process.stdout.write(`installing the test device ${entry.name} (npm ci)\n`);
  execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: folder, stdio: "inherit" });
  fs.writeFileSync(stamp, wanted);
}

require("./softhsm.js").ensureSoftHsm();
