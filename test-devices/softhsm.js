"use strict";
// Makes SoftHSM2 (the software PKCS#11 token the CA's HSM tests run against) available: installs the
// Debian package softhsm2 when it is missing and this runs as root with apt-get. Quick when it is
// already installed. Never fails the test run: without SoftHSM2 the HSM tests skip and say why.
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");

/** Where Debian and other distributions put the SoftHSM2 PKCS#11 library. */
const LIBRARY_PATHS = [
  "/usr/lib/softhsm/libsofthsm2.so",
  "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/local/lib/softhsm/libsofthsm2.so",
  "/usr/lib64/pkcs11/libsofthsm2.so",
];

/** The SoftHSM2 library's path, or null when it is not installed. */
function findSoftHsmLibrary() {
  return LIBRARY_PATHS.find((p) => fs.existsSync(p)) ?? null;
}

function installed() {
  return findSoftHsmLibrary() !== null;
}

function onPath(program) {
  try {
    execFileSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function aptInstall() {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "softhsm2"], { env, stdio: ["ignore", "inherit", "inherit"] });
  try {
    install();
  } catch {
    // A fresh machine's package lists may be missing or stale: refresh them once and try again.
    execFileSync("apt-get", ["update"], { env, stdio: ["ignore", "inherit", "inherit"] });
    install();
  }
}

/** Installs SoftHSM2 when it is missing and can be installed; says why not otherwise. */
function ensureSoftHsm() {
  if (installed()) return;
  const cannot = (why) => process.stdout.write(`SoftHSM2 is not installed and ${why}: the PKCS#11 CA tests will be skipped (install the Debian package softhsm2 to run them)\n`);
  if (process.platform !== "linux") return cannot(`this is ${process.platform}, not Linux`);
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return cannot("this does not run as root");
  if (!onPath("apt-get")) return cannot("apt-get is not available");
  process.stdout.write("installing SoftHSM2 for the PKCS#11 CA tests (apt-get install softhsm2)\n");
  try {
    aptInstall();
  } catch (e) {
    return cannot(`apt-get failed (${e.message.split("\n")[0]})`);
  }
  if (!installed()) cannot("apt-get installed no library at a known path");
}

module.exports = { findSoftHsmLibrary, ensureSoftHsm };

if (require.main === module) ensureSoftHsm();
