import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { DEFAULT_PORT, resolveConfig } from "../../src/config/config";
import { isGdsError } from "../../src/domain/errors";

function configurationError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => isGdsError(e, "Configuration") && pattern.test((e as Error).message));
}

describe("configuration (flags over environment over defaults)", () => {
  it("defaults: port 58810, SQLite, auto approval, 500 sessions, 365-day certificates, RSA 2048 CAs", () => {
    const c = resolveConfig({}, {});
    assert.equal(c.port, DEFAULT_PORT);
    assert.equal(c.databaseUrl, undefined);
    assert.equal(c.approval, "auto");
    assert.equal(c.maxSessions, 500);
    assert.equal(c.certificateLifetimeDays, 365);
    assert.equal(c.caKeySize, 2048);
    assert.match(c.dataDir, /pki-store$/);
  });
  it("limits: 16 MiB messages in up to 2048 chunks, 5 failed logins per name and 20 per client before a 2 s lockout doubling up to 15 min, 500 rejected certificates", () => {
    const c = resolveConfig({}, {});
    assert.equal(c.maxMessageSize, 16 * 1024 * 1024);
    assert.equal(c.maxChunkCount, 2048);
    assert.deepEqual(c.loginThrottle, { freeAttemptsPerUser: 5, freeAttemptsPerClient: 20, firstLockoutMs: 2000, maxLockoutMs: 900_000 });
    assert.equal(c.maxRejectedCertificates, 500);
    const set = resolveConfig({}, {
      OPCUA_GDS_MAX_MESSAGE_SIZE: "131072",
      OPCUA_GDS_LOGIN_FREE_ATTEMPTS: "0",
      OPCUA_GDS_LOGIN_FREE_ATTEMPTS_PER_CLIENT: "3",
      OPCUA_GDS_LOGIN_LOCKOUT_SECONDS: "5",
      OPCUA_GDS_LOGIN_LOCKOUT_MAX_SECONDS: "60",
      OPCUA_GDS_MAX_REJECTED_CERTIFICATES: "10",
    });
    assert.equal(set.maxMessageSize, 131072);
    assert.equal(set.maxChunkCount, 16, "the chunk count follows the message size unless set");
    assert.deepEqual(set.loginThrottle, { freeAttemptsPerUser: 0, freeAttemptsPerClient: 3, firstLockoutMs: 5000, maxLockoutMs: 60_000 });
    assert.equal(set.maxRejectedCertificates, 10);
    assert.equal(resolveConfig({}, { OPCUA_GDS_MAX_CHUNK_COUNT: "64" }).maxChunkCount, 64);
  });
  it("a public host names the GDS for its clients (endpoint host, ApplicationUri) while --host stays the listening address", () => {
    const plain = resolveConfig({ host: "10.0.0.5" }, {});
    assert.equal(plain.hostname, "10.0.0.5");
    const shared = resolveConfig({ host: "10.0.0.5" }, { OPCUA_GDS_PUBLIC_HOST: "gds.plant1.example" });
    assert.equal(shared.host, "10.0.0.5");
    assert.equal(shared.hostname, "gds.plant1.example");
    assert.equal(shared.applicationUri, "urn:gds.plant1.example:opcua-gds");
    assert.equal(resolveConfig({ publicHost: "gds-b" }, { OPCUA_GDS_PUBLIC_HOST: "gds-a" }).applicationUri, "urn:gds-b:opcua-gds");
  });

  it("the environment sets what the flags do not; flags win", () => {
    const env = { OPCUA_GDS_DB: "postgres://gds@db/gds", OPCUA_GDS_APPROVAL: "manual", OPCUA_GDS_CERT_LIFETIME_DAYS: "30", OPCUA_GDS_MAX_SESSIONS: "50", OPCUA_GDS_CA_KEY_SIZE: "3072" };
    const c = resolveConfig({ approval: "auto" }, env);
    assert.equal(c.databaseUrl, "postgres://gds@db/gds");
    assert.equal(c.approval, "auto");
    assert.equal(c.certificateLifetimeDays, 30);
    assert.equal(c.maxSessions, 50);
    assert.equal(c.caKeySize, 3072);
  });
  it("the fleet's push user comes from OPCUA_GDS_PUSH_USER and OPCUA_GDS_PUSH_PASSWORD; without a user there is none", () => {
    const c = resolveConfig({}, { OPCUA_GDS_PUSH_USER: "gds", OPCUA_GDS_PUSH_PASSWORD: "secret" });
    assert.equal(c.pushUser, "gds");
    assert.equal(c.pushPassword, "secret");
    const none = resolveConfig({}, { OPCUA_GDS_PUSH_PASSWORD: "secret" });
    assert.equal(none.pushUser, undefined);
    assert.equal(none.pushPassword, undefined);
  });
  it("OPCUA_GDS_CERT_LIFETIME takes a duration for short-lived certificates, validated, exclusive with _DAYS", () => {
    assert.equal(resolveConfig({}, { OPCUA_GDS_CERT_LIFETIME: "90d" }).certificateLifetimeDays, 90);
    assert.equal(resolveConfig({}, { OPCUA_GDS_CERT_LIFETIME: "36s" }).certificateLifetimeDays, 36 / 86400);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_CERT_LIFETIME: "5s" }), /OPCUA_GDS_CERT_LIFETIME .*between 10s and 3650d/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_CERT_LIFETIME: "3651d" }), /OPCUA_GDS_CERT_LIFETIME/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_CERT_LIFETIME: "soon" }), /OPCUA_GDS_CERT_LIFETIME "soon" is not a duration/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_CERT_LIFETIME: "1d", OPCUA_GDS_CERT_LIFETIME_DAYS: "1" }), /not both/);
  });
  it("bad values are Configuration errors that name the setting", () => {
    configurationError(() => resolveConfig({ port: "99999" }, {}), /--port/);
    configurationError(() => resolveConfig({ approval: "sometimes" }, {}), /--approval/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_CERT_LIFETIME_DAYS: "0" }), /OPCUA_GDS_CERT_LIFETIME_DAYS/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_MAX_SESSIONS: "many" }), /OPCUA_GDS_MAX_SESSIONS/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_CA_KEY_SIZE: "1024" }), /OPCUA_GDS_CA_KEY_SIZE/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_MAX_MESSAGE_SIZE: "1000" }), /OPCUA_GDS_MAX_MESSAGE_SIZE "1000" is not a number from 65536/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_LOGIN_LOCKOUT_SECONDS: "10", OPCUA_GDS_LOGIN_LOCKOUT_MAX_SECONDS: "5" }), /OPCUA_GDS_LOGIN_LOCKOUT_MAX_SECONDS/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_MAX_REJECTED_CERTIFICATES: "-1" }), /OPCUA_GDS_MAX_REJECTED_CERTIFICATES/);
  });
  it("a PKCS#11 token for the CA keys: module, token label and PIN (or a PIN file, without its trailing newline); incomplete settings name what to set and never carry the PIN", async () => {
    assert.equal(resolveConfig({}, {}).caPkcs11, undefined, "CA keys are files unless a module is set");
    const base = { OPCUA_GDS_CA_PKCS11_MODULE: "/usr/lib/softhsm/libsofthsm2.so", OPCUA_GDS_CA_PKCS11_TOKEN: "plant1-gds" };
    assert.deepEqual(resolveConfig({}, { ...base, OPCUA_GDS_CA_PKCS11_PIN: "s3cret-pin" }).caPkcs11, { module: base.OPCUA_GDS_CA_PKCS11_MODULE, token: "plant1-gds", pin: "s3cret-pin" });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "opcua-gds-config-"));
    try {
      const pinFile = path.join(dir, "pin");
      await fs.writeFile(pinFile, "file-pin-42\n", { mode: 0o600 });
      assert.equal(resolveConfig({}, { ...base, OPCUA_GDS_CA_PKCS11_PIN_FILE: pinFile }).caPkcs11?.pin, "file-pin-42");
      configurationError(() => resolveConfig({}, { ...base, OPCUA_GDS_CA_PKCS11_PIN_FILE: path.join(dir, "absent") }), /cannot read OPCUA_GDS_CA_PKCS11_PIN_FILE/);
      configurationError(() => resolveConfig({}, { ...base, OPCUA_GDS_CA_PKCS11_PIN: "s3cret-pin", OPCUA_GDS_CA_PKCS11_PIN_FILE: pinFile }), /not both/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    configurationError(() => resolveConfig({}, { OPCUA_GDS_CA_PKCS11_MODULE: base.OPCUA_GDS_CA_PKCS11_MODULE, OPCUA_GDS_CA_PKCS11_PIN: "s3cret-pin" }), /set OPCUA_GDS_CA_PKCS11_TOKEN/);
    configurationError(() => resolveConfig({}, base), /set OPCUA_GDS_CA_PKCS11_PIN or OPCUA_GDS_CA_PKCS11_PIN_FILE/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_CA_PKCS11_PIN: "s3cret-pin" }), /OPCUA_GDS_CA_PKCS11_PIN is set but OPCUA_GDS_CA_PKCS11_MODULE is not/);
    for (const env of [{ OPCUA_GDS_CA_PKCS11_PIN: "s3cret-pin" }, { OPCUA_GDS_CA_PKCS11_MODULE: "/x.so", OPCUA_GDS_CA_PKCS11_PIN: "s3cret-pin" }]) {
      assert.throws(() => resolveConfig({}, env), (e: unknown) => !(e as Error).message.includes("s3cret-pin"));
    }
  });
});
