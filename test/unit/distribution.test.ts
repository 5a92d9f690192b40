import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveConfig } from "../../src/config/config";
import { currentDrift, findDrift, holdsTrustList, parseDriftPolicy, repairOperation, type PushedState } from "../../src/domain/distribution";
import { isGdsError } from "../../src/domain/errors";

const pushed = (over: Partial<PushedState> = {}): PushedState => ({
  applicationId: "a",
  trustListDigest: "d1",
  trustListWrittenAtMs: 1000,
  certificateSerialHex: "01ab",
  certificateThumbprint: "t1",
  certificateWrittenAtMs: 1000,
  drift: null,
  ...over,
});

describe("trust-list distribution and drift: pure decisions", () => {
  it("a server holds the current trust list when the last push delivered it; drift is counted apart", () => {
    assert.equal(holdsTrustList(pushed(), "d1"), true);
    assert.equal(holdsTrustList(pushed(), "d2"), false, "a new CRL or CA makes the delivered list old");
    assert.equal(holdsTrustList(pushed({ trustListDigest: null }), "d1"), false, "a server that never got a trust list does not hold it");
    const seenOther = { state: "drifted" as const, checkedAtMs: 2000, detail: "x", observedTrustListDigest: "dx", presentedThumbprint: "t1" };
    assert.equal(holdsTrustList(pushed({ drift: seenOther }), "d1"), true, "a change behind the GDS's back is drift, not a pending distribution");
  });

  it("drift compares with what was pushed: certificate and trust list, each only when the GDS pushed one", () => {
    assert.deepEqual(findDrift(pushed(), { presentedThumbprint: "t1", trustListDigest: "d1" }), []);
    const both = findDrift(pushed(), { presentedThumbprint: "t2", trustListDigest: "d9" });
    assert.deepEqual(both.map((f) => f.what), ["certificate", "trust-list"]);
    assert.match(both[0].detail, /presents certificate t2, not t1/);
    assert.equal(repairOperation(both), "all");
    assert.equal(repairOperation(both.slice(0, 1)), "cert");
    assert.equal(repairOperation(both.slice(1)), "trustlist");
    assert.deepEqual(findDrift(pushed({ certificateThumbprint: null, certificateSerialHex: null }), { presentedThumbprint: "t2", trustListDigest: "d1" }), [], "a certificate the GDS never pushed is not its to compare");
    assert.deepEqual(findDrift(pushed(), { presentedThumbprint: "t1", trustListDigest: null }), [], "an unread trust list is no finding");
  });

  it("a repair push supersedes the drift seen before it", () => {
    const drift = { state: "drifted" as const, checkedAtMs: 1500, detail: "x", observedTrustListDigest: "dx", presentedThumbprint: "t1" };
    assert.equal(currentDrift(pushed({ drift })), drift);
    assert.equal(currentDrift(pushed({ drift, trustListWrittenAtMs: 1600 })), null);
  });

  it("OPCUA_GDS_DRIFT_REPAIR is report or repair (default); anything else is a configuration error", () => {
    assert.equal(parseDriftPolicy(undefined), "repair");
    assert.equal(parseDriftPolicy("Report"), "report");
    assert.throws(() => parseDriftPolicy("fix"), (e) => isGdsError(e, "Configuration") && /report or repair/.test(e.message));
  });

  it("intervals come from the environment as durations; drift checks can be switched off", () => {
    const defaults = resolveConfig({ data: "d" }, {}).distribution;
    assert.deepEqual(defaults, { intervalMs: 30_000, driftIntervalMs: 3_600_000, driftPolicy: "repair" });
    const set = resolveConfig({ data: "d" }, { OPCUA_GDS_DISTRIBUTION_INTERVAL: "10s", OPCUA_GDS_DRIFT_INTERVAL: "off", OPCUA_GDS_DRIFT_REPAIR: "report" }).distribution;
    assert.deepEqual(set, { intervalMs: 10_000, driftIntervalMs: null, driftPolicy: "report" });
    assert.throws(() => resolveConfig({ data: "d" }, { OPCUA_GDS_DRIFT_INTERVAL: "hourly" }), /OPCUA_GDS_DRIFT_INTERVAL "hourly" is not a duration/);
    assert.throws(() => resolveConfig({ data: "d" }, { OPCUA_GDS_DISTRIBUTION_INTERVAL: "100ms" }), /OPCUA_GDS_DISTRIBUTION_INTERVAL/);
  });
});
