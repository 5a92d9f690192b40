import "reflect-metadata";
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, webcrypto } from "node:crypto";
import { describe, it } from "node:test";
import { StatusCodes, type StatusCode } from "node-opcua";
import { generateRsaKeyPair, privateKeyToPem } from "../../src/ca/certificate-authority";
import { packagePrivateKey } from "../../src/ca/key-packaging";
import { GdsError } from "../../src/domain/errors";
import { decodePrivateKey } from "../../src/opcua/server-configuration/private-key";
import { StatusFault } from "../../src/opcua/status-fault";
import { decodeTrustList, encodeTrustList } from "../../src/opcua/trust-list-file";
import { TestCa } from "../helpers/push-target";

const faultWith = (code: StatusCode) => (e: unknown) => e instanceof StatusFault && e.statusCode.value === code.value;
const invalidArgument = (e: unknown) => e instanceof GdsError && e.kind === "InvalidArgument";

describe("decodeTrustList (a written TrustList file, OPC 10000-12 §7.8.2.8)", () => {
  const content = { trustedCertificates: [Buffer.from([1, 2, 3])], trustedCrls: [], issuerCertificates: [Buffer.from([4])], issuerCrls: [Buffer.from([5, 6])] };

  it("reads back what encodeTrustList wrote, with its SpecifiedLists", () => {
    const decoded = decodeTrustList(encodeTrustList(content, 13));
    assert.equal(decoded.specifiedLists, 13);
    assert.deepEqual(decoded.trustedCertificates, content.trustedCertificates);
    assert.deepEqual(decoded.issuerCrls, content.issuerCrls);
  });

  it("refuses truncated bytes, trailing bytes and masks beyond 15 with InvalidArgument", () => {
    const encoded = encodeTrustList(content, 15);
    assert.throws(() => decodeTrustList(encoded.subarray(0, encoded.length - 1)), invalidArgument);
    assert.throws(() => decodeTrustList(Buffer.concat([encoded, Buffer.from([0])])), invalidArgument);
    const masks16 = Buffer.from(encoded);
    masks16.writeUInt32LE(16, 0);
    assert.throws(() => decodeTrustList(masks16), invalidArgument);
    assert.throws(() => decodeTrustList(Buffer.alloc(0)), invalidArgument);
  });
});

describe("decodePrivateKey (UpdateCertificate PrivateKey, OPC 10000-12 §7.10.5)", () => {
  it("takes PKCS#8 and PKCS#1 PEM and a PFX without password, and gives back the same key", async () => {
    const ca = await TestCa.create();
    try {
      const issued = await ca.issueWithKey("urn:unit:device");
      const spki = (k: ReturnType<typeof createPrivateKey>) => createPublicKey(k).export({ type: "spki", format: "der" });
      const expected = spki(createPrivateKey(issued.privateKeyPem));
      const pkcs1 = createPrivateKey(issued.privateKeyPem).export({ type: "pkcs1", format: "pem" }) as string;
      const pfx = await packagePrivateKey("PFX", issued.privateKeyPkcs8, issued.certificate, [ca.certificateDer], null);
      for (const [format, bytes] of [
        ["PEM", Buffer.from(issued.privateKeyPem)],
        ["PEM", Buffer.from(pkcs1)],
        ["PFX", pfx],
      ] as const) {
        assert.deepEqual(spki(await decodePrivateKey(format, bytes, ["PFX", "PEM"])), expected, format);
      }
      // A PFX protected by a password cannot be opened: the method has no password argument.
      const locked = await packagePrivateKey("PFX", issued.privateKeyPkcs8, issued.certificate, [], "secret");
      await assert.rejects(decodePrivateKey("PFX", locked, ["PFX", "PEM"]), faultWith(StatusCodes.BadNotSupported));
      const encryptedPem = await packagePrivateKey("PEM", issued.privateKeyPkcs8, issued.certificate, [], "secret");
      await assert.rejects(decodePrivateKey("PEM", encryptedPem, ["PFX", "PEM"]), faultWith(StatusCodes.BadNotSupported));
      // A format the server does not list.
      await assert.rejects(decodePrivateKey("PFX", pfx, ["PEM"]), faultWith(StatusCodes.BadNotSupported));
    } finally {
      await ca.dispose();
    }
  });

  it("refuses garbage, a public key and an oversized blob with BadNotSupported", async () => {
    const keys = await generateRsaKeyPair(2048);
    const publicPem = Buffer.from(createPublicKey(await privateKeyToPem(keys.privateKey)).export({ type: "spki", format: "pem" }) as string);
    for (const bytes of [Buffer.from("garbage"), publicPem, Buffer.alloc(100_000, 0x30), Buffer.from(webcrypto.getRandomValues(new Uint8Array(64)))]) {
      await assert.rejects(decodePrivateKey("PEM", bytes, ["PFX", "PEM"]), faultWith(StatusCodes.BadNotSupported));
      await assert.rejects(decodePrivateKey("PFX", bytes, ["PFX", "PEM"]), faultWith(StatusCodes.BadNotSupported));
    }
  });
});
