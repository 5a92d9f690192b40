import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { certificatesInUse, ownCertificateMovesNow, retirementDecision, type IssuedCertificateFacts } from "../../src/domain/ca-retirement";

const OLD = "0a";
const NEW = "0b";
const HOUR = 3600_000;
const NOW = Date.UTC(2026, 10, 26, 12);
const OLD_CA = { serialHex: OLD, notAfterMs: NOW + 1000 * HOUR };

function cert(applicationId: string, issuerSerialHex: string, notBeforeMs: number, notAfterMs: number, revokedAtMs: number | null = null): IssuedCertificateFacts {
  return { applicationId, groupName: "DefaultApplicationGroup", certificateTypeName: "RsaSha256ApplicationCertificateType", issuerSerialHex, notBeforeMs, notAfterMs, revokedAtMs };
}

describe("CA retirement (pure decision)", () => {
  it("an old-CA certificate that is valid and not renewed keeps the old CA", () => {
    const decision = retirementDecision(OLD_CA, [cert("a", OLD, NOW - HOUR, NOW + HOUR)], null, NOW);
    assert.equal(decision.retire, false);
    assert.equal(!decision.retire && decision.inUse.length, 1);
  });

  it("the old CA retires once its last certificate has expired (clock moved just past notAfter)", () => {
    const certificates = [cert("a", OLD, NOW - HOUR, NOW + HOUR)];
    assert.equal(retirementDecision(OLD_CA, certificates, null, NOW + HOUR - 1).retire, false);
    assert.deepEqual(retirementDecision(OLD_CA, certificates, null, NOW + HOUR), { retire: true, reason: "no-certificate-in-use" });
  });

  it("a certificate replaced by a later one from another CA, or revoked, no longer holds the old CA", () => {
    const certificates = [cert("a", OLD, NOW - 2 * HOUR, NOW + HOUR), cert("a", NEW, NOW - HOUR, NOW + 9 * HOUR), cert("b", OLD, NOW - 2 * HOUR, NOW + HOUR, NOW - 1)];
    assert.deepEqual(certificatesInUse(OLD, certificates, NOW), []);
    assert.deepEqual(retirementDecision(OLD_CA, certificates, NEW, NOW), { retire: true, reason: "no-certificate-in-use" });
  });

  it("a renewal from the same old CA, or a revoked new-CA certificate, does not count as replaced", () => {
    const renewedFromOld = [cert("a", OLD, NOW - 2 * HOUR, NOW + HOUR), cert("a", OLD, NOW - HOUR, NOW + 2 * HOUR)];
    assert.equal(certificatesInUse(OLD, renewedFromOld, NOW).length, 2);
    const revokedNew = [cert("a", OLD, NOW - 2 * HOUR, NOW + HOUR), cert("a", NEW, NOW - HOUR, NOW + 9 * HOUR, NOW - 1)];
    assert.equal(certificatesInUse(OLD, revokedNew, NOW).length, 1);
  });

  it("the GDS's own certificate holds the old CA and moves only when it is the last user", () => {
    const inUse = retirementDecision(OLD_CA, [cert("a", OLD, NOW - HOUR, NOW + HOUR)], OLD, NOW);
    assert.equal(ownCertificateMovesNow(inUse), false, "clients still on the old CA must reach the GDS");
    const last = retirementDecision(OLD_CA, [], OLD, NOW);
    assert.deepEqual(last, { retire: false, inUse: [], ownCertificate: true });
    assert.equal(ownCertificateMovesNow(last), true);
  });

  it("an expired old CA retires whatever still names it", () => {
    assert.deepEqual(retirementDecision({ serialHex: OLD, notAfterMs: NOW }, [cert("a", OLD, NOW - HOUR, NOW + HOUR)], OLD, NOW), { retire: true, reason: "expired" });
  });
});
