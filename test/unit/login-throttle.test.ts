import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { afterFailure, isLocked, lockoutMs, type LoginThrottlePolicy } from "../../src/domain/login-throttle";
import { LoginGuard, MAX_TRACKED_KEYS } from "../../src/services/login-guard";
import type { AuditEntry, AuditLog } from "../../src/services/ports";

const POLICY: LoginThrottlePolicy = { freeAttemptsPerUser: 3, freeAttemptsPerClient: 10, firstLockoutMs: 1000, maxLockoutMs: 60_000 };

/** A clock the test moves by hand. */
function fakeClock(start = 1_800_000_000_000) {
  let now = start;
  return { nowMs: () => now, advance: (ms: number) => void (now += ms) };
}

/** An audit log that keeps what it is told. */
function memoryAudit(): AuditLog & { entries: AuditEntry[] } {
  const entries: AuditEntry[] = [];
  return { entries, append: async (e) => void entries.push(e), since: async () => [] };
}

describe("login throttling policy (pure)", () => {
  it("locks only after the free attempts, then doubles each lockout up to the ceiling", () => {
    assert.deepEqual([1, 2, 3].map((n) => lockoutMs(n, 3, POLICY)), [0, 0, 0]);
    assert.deepEqual([4, 5, 6, 7, 8].map((n) => lockoutMs(n, 3, POLICY)), [1000, 2000, 4000, 8000, 16_000]);
    assert.equal(lockoutMs(10, 3, POLICY), 60_000);
    assert.equal(lockoutMs(10_000, 3, POLICY), 60_000, "no overflow however many failures");
  });
  it("counts failures, locks from the fourth, and forgets a key after twice the ceiling without failure", () => {
    let r = afterFailure(undefined, 0, 3, POLICY);
    r = afterFailure(r, 10, 3, POLICY);
    r = afterFailure(r, 20, 3, POLICY);
    assert.equal(isLocked(r, 21), false);
    r = afterFailure(r, 30, 3, POLICY);
    assert.equal(r.failures, 4);
    assert.equal(isLocked(r, 1029), true);
    assert.equal(isLocked(r, 1030), false);
    const later = afterFailure(r, 30 + 2 * POLICY.maxLockoutMs + 1, 3, POLICY);
    assert.equal(later.failures, 1, "failures long ago are forgotten");
  });
});

describe("LoginGuard (failed logins per user name and per client certificate)", () => {
  it("a user name is locked after its free attempts: even the right password fails until the lockout ends; a success clears it", async () => {
    const clock = fakeClock();
    const audit = memoryAudit();
    const guard = new LoginGuard(POLICY, clock, audit);
    let checks = 0;
    const wrong = async () => (checks++, false);
    const right = async () => (checks++, true);
    for (let i = 0; i < 4; i++) assert.equal(await guard.attempt("admin", "client-a", wrong), false);
    assert.equal(checks, 4);
    assert.equal(await guard.attempt("admin", "client-b", right), false, "locked: the password is not even checked");
    assert.equal(checks, 4);
    clock.advance(1000);
    assert.equal(await guard.attempt("admin", "client-b", right), true);
    assert.equal(await guard.attempt("admin", "client-b", wrong), false);
    assert.equal(await guard.attempt("admin", "client-b", right), true, "the failures before the success were cleared");
    assert.equal(audit.entries.filter((e) => e.action === "LoginFailed").length, 5);
    const throttled = audit.entries.filter((e) => e.action === "LoginThrottled");
    assert.equal(throttled.length, 1);
    assert.match(throttled[0].subject, /^user admin$/);
    assert.match(throttled[0].details ?? "", /lockedFor=1000ms/);
  });
  it("an unknown user name is locked the same way as an existing one (the answer never tells which names exist)", async () => {
    const clock = fakeClock();
    const guard = new LoginGuard(POLICY, clock, memoryAudit());
    const results: boolean[] = [];
    for (let i = 0; i < 5; i++) results.push(await guard.attempt("nobody", null, async () => false));
    assert.deepEqual(results, [false, false, false, false, false]);
    assert.equal(await guard.attempt("nobody", null, async () => assert.fail("a locked name must not be checked")), false);
  });
  it("one client certificate trying many user names is locked after its own allowance, other clients are not", async () => {
    const clock = fakeClock();
    const guard = new LoginGuard(POLICY, clock, memoryAudit());
    for (let i = 0; i < 11; i++) assert.equal(await guard.attempt(`name${i}`, "sprayer", async () => false), false);
    assert.equal(await guard.attempt("admin", "sprayer", async () => true), false, "the sprayer's certificate is locked");
    assert.equal(await guard.attempt("admin", "operator-station", async () => true), true, "another client signs in");
    assert.equal(await guard.attempt("admin", null, async () => true), true);
  });
  it("memory stays bounded under a flood of invented names, and the lockout of the name under attack survives it", async () => {
    const clock = fakeClock();
    const guard = new LoginGuard({ ...POLICY, freeAttemptsPerClient: 1_000_000 }, clock, memoryAudit());
    for (let i = 0; i < 4; i++) await guard.attempt("admin", null, async () => false);
    for (let i = 0; i < MAX_TRACKED_KEYS + 500; i++) await guard.attempt(`invented-${i}`, null, async () => false);
    assert.ok(guard.trackedKeys <= MAX_TRACKED_KEYS, `${guard.trackedKeys} keys tracked`);
    assert.equal(await guard.attempt("admin", null, async () => true), false, "admin is still locked");
  });
  it("audit records carry the user name bounded and printable, never the password", async () => {
    const audit = memoryAudit();
    const guard = new LoginGuard(POLICY, fakeClock(), audit);
    await guard.attempt(`evil\nname\u0000${"x".repeat(500)}`, null, async () => false);
    const e = audit.entries[0];
    assert.equal(e.action, "LoginFailed");
    assert.ok(!/[\n\u0000]/.test(e.actor + e.subject));
    assert.ok(e.actor.length <= 128);
  });
});
