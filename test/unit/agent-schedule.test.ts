import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffMs, nextCheckMs, renewalReason, type HeldCertificate } from "../../src/client/agent/renewal-decision";

const HOUR = 3_600_000;
const URI = "urn:plant1:pump";
/** Valid from t=0 for 30 hours: renewal time at 20 h (2/3). */
const held: HeldCertificate = { notBeforeMs: 0, notAfterMs: 30 * HOUR, applicationUri: URI };

describe("agent decisions (pure)", () => {
  it("renewalReason: none held, another URI, expired, not yet valid, the GDS asks, the renewal time has come; otherwise null", () => {
    assert.equal(renewalReason(null, URI, 0, null), "no certificate yet");
    assert.match(renewalReason({ ...held, applicationUri: "urn:other" }, URI, HOUR, false)!, /is for urn:other, not urn:plant1:pump/);
    assert.equal(renewalReason(held, URI, 30 * HOUR, false), "the certificate has expired");
    assert.equal(renewalReason({ ...held, notBeforeMs: 2 * HOUR }, URI, HOUR, false), "the certificate is not valid yet");
    assert.match(renewalReason(held, URI, HOUR, true)!, /GetCertificateStatus/);
    assert.equal(renewalReason(held, URI, 20 * HOUR - 1, false), null, "just before the renewal time");
    assert.equal(renewalReason(held, URI, 20 * HOUR, false), "the renewal time has come");
    assert.equal(renewalReason(held, URI, 20 * HOUR - 1, null), null, "no answer from the GDS: the local renewal time decides");
  });

  it("nextCheckMs: the interval, or earlier at the renewal time or a minute before a CRL's nextUpdate; never in the past", () => {
    assert.equal(nextCheckMs(HOUR, HOUR, held, []), 2 * HOUR);
    assert.equal(nextCheckMs(19.5 * HOUR, HOUR, held, []), 20 * HOUR, "the renewal time comes first");
    assert.equal(nextCheckMs(HOUR, HOUR, held, [1.5 * HOUR]), 1.5 * HOUR - 60_000, "a CRL about to be replaced");
    assert.equal(nextCheckMs(21 * HOUR, HOUR, held, [HOUR]), 22 * HOUR, "past times do not count");
    assert.equal(nextCheckMs(HOUR, 10, null, []), HOUR + 1000, "at least a second");
  });

  it("backoffMs doubles from the initial delay up to the maximum, spread by ±20 %", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 10].map((n) => backoffMs(n, 1000, 10_000, 0.5)), [1000, 2000, 4000, 8000, 10_000, 10_000]);
    assert.equal(backoffMs(1, 1000, 10_000, 0), 800);
    assert.equal(backoffMs(1, 1000, 10_000, 1), 1200);
    assert.equal(backoffMs(1000, 1000, 60_000, 0.5), 60_000, "no overflow after many failures");
  });
});
