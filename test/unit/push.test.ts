import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { PushFailure, decideDeviceCertificate, hasReached, parsePushOperation, retryDelayMs, trustListDigest, type TrustListLists } from "../../src/domain/push";
import { decodeTrustList, encodeTrustList, TrustListMasks } from "../../src/encoding/trust-list-encoding";
import { splitDerChain } from "../../src/push/device-connector";
import { callFailure, connectFailure, describeStatus } from "../../src/push/push-failures";

const lists = (): TrustListLists => ({
  trustedCertificates: [randomBytes(40), randomBytes(50)],
  trustedCrls: [randomBytes(30)],
  issuerCertificates: [randomBytes(20)],
  issuerCrls: [],
});

describe("push: pure decisions", () => {
  it("operations parse by name; anything else is an InvalidArgument naming the choices", () => {
    assert.equal(parsePushOperation("all"), "all");
    assert.throws(() => parsePushOperation("everything"), /cert, trustlist or all/);
  });

  it("steps are ordered: trust list, issue, update, apply, verify", () => {
    assert.ok(hasReached("certificate-issued", "trust-list-written"));
    assert.ok(hasReached("certificate-issued", "certificate-issued"));
    assert.ok(!hasReached("certificate-issued", "certificate-updated"));
    assert.ok(!hasReached("none", "trust-list-written"));
  });

  it("back-off doubles from the first delay and stops at the cap", () => {
    const policy = { firstDelayMs: 1000, maxDelayMs: 5000 };
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, policy)), [1000, 2000, 4000, 5000, 5000]);
  });

  it("first contact: the GDS-issued or the pinned certificate passes; an unknown one only with trust on first use", () => {
    const base = { thumbprint: "aa", pinnedThumbprint: null, issuedByGds: false, trustOnFirstUse: false, applicationIdText: "ns=1;g=x" };
    assert.deepEqual(decideDeviceCertificate({ ...base, issuedByGds: true }), { accept: true, by: "issued-by-gds" });
    assert.deepEqual(decideDeviceCertificate({ ...base, pinnedThumbprint: "aa" }), { accept: true, by: "pinned" });
    assert.deepEqual(decideDeviceCertificate({ ...base, trustOnFirstUse: true }), { accept: true, by: "pinned-now" });
    const refused = decideDeviceCertificate({ ...base, pinnedThumbprint: "bb" });
    assert.equal(refused.accept, false);
    assert.match((refused as { reason: string }).reason, /thumbprint aa \(pinned: bb\).*opcua-gds app trust ns=1;g=x.*--trust-device-certificate/);
  });

  it("the trust list digest ignores order and duplicates but sees every changed, added or moved entry", () => {
    const a = lists();
    const reordered = { ...a, trustedCertificates: [a.trustedCertificates[1], a.trustedCertificates[0], a.trustedCertificates[0]] };
    assert.equal(trustListDigest(a), trustListDigest(reordered));
    assert.notEqual(trustListDigest(a), trustListDigest({ ...a, trustedCrls: [] }));
    assert.notEqual(trustListDigest(a), trustListDigest({ ...a, issuerCrls: [randomBytes(8)] }));
    // The same certificate as an issuer instead of trusted is a different trust list.
    assert.notEqual(trustListDigest(a), trustListDigest({ ...a, trustedCertificates: [a.trustedCertificates[0]], issuerCertificates: [...a.issuerCertificates, a.trustedCertificates[1]] }));
  });

  it("only failures that waiting can cure are retried", () => {
    assert.equal(new PushFailure("unreachable", "x").retryable, true);
    assert.equal(new PushFailure("busy", "x").retryable, true);
    assert.equal(new PushFailure("access-denied", "x").retryable, false);
    assert.equal(new PushFailure("rejected", "x").retryable, false);
    assert.equal(new PushFailure("device-untrusted", "x").retryable, false);
  });
});

describe("push: messages for plant engineers", () => {
  it("a refused certificate names the status and its meaning", () => {
    const f = callFailure("BadCertificateInvalid", { method: "UpdateCertificate", user: "the user 'x'" });
    assert.equal(f.kind, "rejected");
    assert.equal(f.remoteStatus, "BadCertificateInvalid");
    assert.match(f.message, /^device rejected the certificate: BadCertificateInvalid - \S.+/);
  });

  it("a refused user says which user and what to check", () => {
    const f = connectFailure(new Error("ActivateSession failed: BadUserAccessDenied (0x801f0000)"), "opc.tcp://plc:4840", "the user 'x'");
    assert.equal(f.kind, "access-denied");
    assert.match(f.message, /^device refused the user 'x': BadUserAccessDenied - .* check push credentials$/);
  });

  it("a closed port is 'cannot reach URL: connection refused'", () => {
    const f = connectFailure(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:4999"), { code: "ECONNREFUSED" }), "opc.tcp://127.0.0.1:4999", "");
    assert.equal(f.kind, "unreachable");
    assert.match(f.message, /^cannot reach opc\.tcp:\/\/127\.0\.0\.1:4999: connection refused/);
    assert.equal(f.retryable, true);
  });

  it("a busy device is retried, a missing method is not", () => {
    assert.equal(callFailure("BadTooManySessions", { method: "TrustList.Open", user: "" }).retryable, true);
    assert.equal(callFailure("BadNotSupported", { method: "CreateSigningRequest", user: "" }).kind, "unsupported");
    assert.match(describeStatus("NotAStatus"), /^NotAStatus$/);
  });
});

describe("push: encodings", () => {
  it("TrustListDataType round-trips through encode and decode", () => {
    const a = lists();
    const decoded = decodeTrustList(encodeTrustList(a, TrustListMasks.All));
    assert.equal(decoded.specifiedLists, 15);
    assert.equal(trustListDigest(decoded), trustListDigest(a));
    assert.deepEqual(decoded.trustedCertificates.map((b) => b.toString("hex")), a.trustedCertificates.map((b) => b.toString("hex")));
  });

  it("a DER chain splits into its certificates; trailing garbage is left out", () => {
    const one = Buffer.concat([Buffer.from([0x30, 0x03]), Buffer.from([1, 2, 3])]);
    const long = Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x00]), randomBytes(256)]);
    const parts = splitDerChain(Buffer.concat([one, long, Buffer.from([0x00, 0x01])]));
    assert.deepEqual(parts.map((p) => p.length), [5, 260]);
  });
});
