import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { resolveConfig } from "../../src/config/config";
import { isGdsError } from "../../src/domain/errors";
import {
  DEFAULT_RENEWAL_POLICY,
  MAX_RENEWAL_JITTER_FRACTION,
  formatRenewalPolicy,
  parseRenewalPolicy,
  renewalReason,
  renewalTimeMs,
  type RenewalFacts,
} from "../../src/domain/renewal";

const DAY = 86_400_000;
const NB = Date.UTC(2026, 0, 1);
const YEAR = 365 * DAY;

describe("renewal plan (pure)", () => {
  it("default: 2/3 of the issued lifetime, without a serial exactly, with one at most 2 % of the lifetime earlier", () => {
    assert.equal(renewalTimeMs(NB, NB + 300 * DAY), NB + 200 * DAY);
    for (let i = 0; i < 200; i++) {
      const serial = randomBytes(16).toString("hex");
      const t = renewalTimeMs(NB, NB + YEAR, DEFAULT_RENEWAL_POLICY, serial);
      const planned = NB + (YEAR * 2) / 3;
      assert.ok(t <= Math.round(planned) && t >= planned - YEAR * MAX_RENEWAL_JITTER_FRACTION - 1, `${serial}: ${t - planned} ms`);
    }
  });

  it("the jitter is deterministic per serial and spreads a fleet over the jitter range", () => {
    const serials = Array.from({ length: 100 }, () => randomBytes(16).toString("hex"));
    const times = serials.map((s) => renewalTimeMs(NB, NB + YEAR, DEFAULT_RENEWAL_POLICY, s));
    assert.deepEqual(serials.map((s) => renewalTimeMs(NB, NB + YEAR, DEFAULT_RENEWAL_POLICY, s.toUpperCase())), times, "same serial, same time (any case)");
    assert.ok(new Set(times).size >= 95, "different serials renew at different times");
    const spread = Math.max(...times) - Math.min(...times);
    assert.ok(spread > YEAR * MAX_RENEWAL_JITTER_FRACTION * 0.5, `spread ${spread / DAY} days`);
  });

  it("a time before expiry: 30d before notAfter (less the jitter), never past expiry", () => {
    const policy = parseRenewalPolicy("30d");
    assert.deepEqual(policy, { kind: "before-expiry", beforeMs: 30 * DAY });
    assert.equal(renewalTimeMs(NB, NB + YEAR, policy), NB + YEAR - 30 * DAY);
    const t = renewalTimeMs(NB, NB + YEAR, policy, "01ab");
    assert.ok(t <= NB + YEAR - 30 * DAY && t >= NB + YEAR - 30 * DAY - YEAR * MAX_RENEWAL_JITTER_FRACTION);
  });

  it("a time before expiry not shorter than the lifetime falls back to 2/3 (else it would renew at once, forever)", () => {
    assert.equal(renewalTimeMs(NB, NB + 20 * DAY, parseRenewalPolicy("30d")), renewalTimeMs(NB, NB + 20 * DAY));
    assert.equal(renewalTimeMs(NB, NB + 30 * DAY, parseRenewalPolicy("30d")), NB + 20 * DAY);
  });

  it("a percentage of the lifetime; short-lived certificates (seconds) get a renewal time inside their lifetime", () => {
    assert.equal(renewalTimeMs(NB, NB + 100 * DAY, parseRenewalPolicy("75%")), NB + 75 * DAY);
    assert.ok(Math.abs(renewalTimeMs(NB, NB + 100 * DAY, parseRenewalPolicy("66.7%")) - (NB + 66.7 * DAY)) <= 1);
    const t = renewalTimeMs(NB, NB + 20_000, DEFAULT_RENEWAL_POLICY, "ffee");
    assert.ok(t > NB && t < NB + 20_000);
    assert.equal(renewalTimeMs(NB, NB, DEFAULT_RENEWAL_POLICY, "ffee"), NB, "an empty lifetime renews at once");
  });

  it("policies print as they are written", () => {
    assert.equal(formatRenewalPolicy(parseRenewalPolicy("66.7%")), "66.7%");
    assert.equal(formatRenewalPolicy(parseRenewalPolicy("30d")), "30d");
    assert.equal(formatRenewalPolicy(parseRenewalPolicy("36h")), "36h");
  });

  it("bad policies are refused with what to write", () => {
    assert.throws(() => parseRenewalPolicy("0%"), /from 1% to 99%/);
    assert.throws(() => parseRenewalPolicy("100%"), /from 1% to 99%/);
    assert.throws(() => parseRenewalPolicy("soon"), /neither a percentage of the lifetime \(66%\) nor a time before expiry \(30d, 12h\)/);
    assert.throws(() => parseRenewalPolicy("0d"), /more than 0/);
  });
});

describe("renewal reason (GetCertificateStatus and the scheduler)", () => {
  const facts = (newest: Partial<NonNullable<RenewalFacts["newest"]>> | null, more: Partial<RenewalFacts> = {}): RenewalFacts => ({
    newest: newest && { renewalAtMs: NB + 200 * DAY, revoked: false, issuerSerialHex: "ca1", rsaKeyBits: 2048, ...newest },
    nowMs: NB + 100 * DAY,
    currentCaSerialHex: "ca1",
    minKeyBits: 2048,
    ...more,
  });

  it("nothing to do for a current, unrevoked certificate of the current CA with a key the policy accepts", () => {
    assert.equal(renewalReason(facts({})), null);
  });

  it("names the first reason: no certificate, revoked, renewal time reached, CA changed, key below policy", () => {
    assert.equal(renewalReason(facts(null)), "no-certificate");
    assert.equal(renewalReason(facts({ revoked: true, renewalAtMs: 0 })), "revoked");
    assert.equal(renewalReason(facts({ renewalAtMs: NB + 100 * DAY })), "renewal-time", "due at the renewal time itself");
    assert.equal(renewalReason(facts({}, { currentCaSerialHex: "ca2" })), "ca-changed");
    assert.equal(renewalReason(facts({}, { minKeyBits: 3072 })), "key-policy");
    assert.equal(renewalReason(facts({ rsaKeyBits: 0 }, { minKeyBits: 3072 })), null, "a key of unknown size (not RSA) is not compared");
  });
});

describe("renewal configuration (OPCUA_GDS_RENEWAL, --renewal)", () => {
  const configurationError = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => isGdsError(e, "Configuration") && pattern.test((e as Error).message), String(pattern));

  it("default: 2/3 for every group", () => {
    const c = resolveConfig({}, {});
    assert.deepEqual(Object.keys(c.renewal).sort(), ["DefaultApplicationGroup", "DefaultHttpsGroup", "DefaultUserTokenGroup"]);
    for (const p of Object.values(c.renewal)) assert.deepEqual(p, DEFAULT_RENEWAL_POLICY);
  });

  it("per group, a bare policy for the groups not named; the flag wins over the environment", () => {
    const c = resolveConfig({}, { OPCUA_GDS_RENEWAL: "DefaultApplicationGroup=66%, defaulthttpsgroup=30d,75%" });
    assert.deepEqual(c.renewal.DefaultApplicationGroup, { kind: "fraction", fraction: 0.66 });
    assert.deepEqual(c.renewal.DefaultHttpsGroup, { kind: "before-expiry", beforeMs: 30 * DAY });
    assert.deepEqual(c.renewal.DefaultUserTokenGroup, { kind: "fraction", fraction: 0.75 });
    const f = resolveConfig({ renewal: "80%" }, { OPCUA_GDS_RENEWAL: "50%" });
    assert.deepEqual(f.renewal.DefaultApplicationGroup, { kind: "fraction", fraction: 0.8 });
  });

  it("unknown groups, bad policies and a group named twice are configuration errors that say what to write", () => {
    configurationError(() => resolveConfig({}, { OPCUA_GDS_RENEWAL: "NoSuchGroup=50%" }), /OPCUA_GDS_RENEWAL "NoSuchGroup=50%": unknown certificate group.*GROUP=PERCENT%/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_RENEWAL: "DefaultApplicationGroup=later" }), /neither a percentage/);
    configurationError(() => resolveConfig({ renewal: "150%" }, {}), /--renewal "150%"/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_RENEWAL: "DefaultApplicationGroup=50%,DefaultApplicationGroup=60%" }), /twice/);
  });

  it("scheduler interval: 30 s by default, a duration, or off; key size 2048 unless set", () => {
    assert.equal(resolveConfig({}, {}).schedulerIntervalMs, 30_000);
    assert.equal(resolveConfig({}, { OPCUA_GDS_SCHEDULER_INTERVAL: "1s" }).schedulerIntervalMs, 1000);
    assert.equal(resolveConfig({}, { OPCUA_GDS_SCHEDULER_INTERVAL: "off" }).schedulerIntervalMs, null);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_SCHEDULER_INTERVAL: "often" }), /OPCUA_GDS_SCHEDULER_INTERVAL "often" is not a duration/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_SCHEDULER_INTERVAL: "2h" }), /between 0.1s and 60m/);
    assert.equal(resolveConfig({}, {}).keySize, 2048);
    assert.equal(resolveConfig({}, { OPCUA_GDS_KEY_SIZE: "3072" }).keySize, 3072);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_KEY_SIZE: "1024" }), /OPCUA_GDS_KEY_SIZE "1024"/);
  });

  it("scheduled pushes: 60 s per attempt and 8 devices at once unless set", () => {
    assert.deepEqual(resolveConfig({}, {}).scheduledPush, { timeoutMs: 60_000, concurrency: 8 });
    assert.deepEqual(resolveConfig({}, { OPCUA_GDS_PUSH_TIMEOUT: "20s", OPCUA_GDS_PUSH_CONCURRENCY: "32" }).scheduledPush, { timeoutMs: 20_000, concurrency: 32 });
    configurationError(() => resolveConfig({}, { OPCUA_GDS_PUSH_TIMEOUT: "0s" }), /OPCUA_GDS_PUSH_TIMEOUT/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_PUSH_TIMEOUT: "soon" }), /OPCUA_GDS_PUSH_TIMEOUT "soon" is not a duration/);
    configurationError(() => resolveConfig({}, { OPCUA_GDS_PUSH_CONCURRENCY: "0" }), /OPCUA_GDS_PUSH_CONCURRENCY/);
  });
});
