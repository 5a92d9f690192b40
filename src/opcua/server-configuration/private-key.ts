import { createPrivateKey, webcrypto, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { StatusCodes } from "node-opcua";
import { StatusFault } from "../status-fault";
import type { PrivateKeyFormat } from "./options";

const OID_KEY_BAG = "1.2.840.113549.1.12.10.1.1";
const OID_PKCS8_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2";

/** pkijs over node:crypto's WebCrypto, passed explicitly so that pkijs's global engine is left alone. */
const engine = new pkijs.CryptoEngine({ name: "node-webcrypto", crypto: webcrypto as unknown as Crypto });

/** A pushed private key is a few kilobytes; anything far larger is not one. */
const MAX_PRIVATE_KEY_BYTES = 64 * 1024;

function notSupported(message: string): StatusFault {
  return new StatusFault(StatusCodes.BadNotSupported, message);
}

/**
 * Decodes the PrivateKey argument of UpdateCertificate (OPC 10000-12 §7.10.5): "PEM" (PKCS#8 or
 * PKCS#1, unencrypted: the method has no password argument) or "PFX" (PKCS#12 with an empty
 * password). A format the server does not list in `supported`, or bytes that do not decode, answer
 * Bad_NotSupported ("The PrivateKey is invalid or the format is not supported").
 */
export async function decodePrivateKey(format: string, bytes: Buffer, supported: readonly PrivateKeyFormat[]): Promise<KeyObject> {
  if (!supported.includes(format as PrivateKeyFormat)) throw notSupported(`the PrivateKeyFormat ${JSON.stringify(format)} is not supported; use one of ${supported.join(", ")}`);
  if (bytes.length > MAX_PRIVATE_KEY_BYTES) throw notSupported("the PrivateKey is too large to be a private key");
  const key = format === "PEM" ? decodePem(bytes) : await decodePfx(bytes);
  if (key.type !== "private") throw notSupported("the PrivateKey is not a private key");
  return key;
}

function decodePem(bytes: Buffer): KeyObject {
  const text = bytes.toString("latin1");
  if (text.includes("ENCRYPTED")) throw notSupported("an encrypted PEM private key cannot be used: UpdateCertificate has no password");
  try {
    return text.includes("-----BEGIN") ? createPrivateKey({ key: text, format: "pem" }) : createPrivateKey({ key: bytes, format: "der", type: "pkcs8" });
  } catch {
    throw notSupported("the PrivateKey is not a PEM private key");
  }
}

async function decodePfx(bytes: Buffer): Promise<KeyObject> {
  const password = new ArrayBuffer(0);
  try {
    const asn = asn1js.fromBER(new Uint8Array(bytes));
    if (asn.offset === -1 || asn.offset !== bytes.length) throw new Error("not one DER structure");
    const pfx = new pkijs.PFX({ schema: asn.result });
    await pfx.parseInternalValues({ password, checkIntegrity: true }, engine);
    const safe = pfx.parsedValue?.authenticatedSafe;
    if (!safe) throw new Error("no authenticated safe");
    await safe.parseInternalValues({ safeContents: safe.safeContents.map(() => ({ password })) }, engine);
    for (const contents of safe.parsedValue?.safeContents ?? []) {
      for (const bag of contents.value.safeBags) {
        if (bag.bagId === OID_PKCS8_SHROUDED_KEY_BAG) {
          const shrouded = bag.bagValue as pkijs.PKCS8ShroudedKeyBag;
          // Public at run time; pkijs's typings mark it protected although nothing else decrypts the bag.
          await (shrouded as unknown as { parseInternalValues(p: { password: ArrayBuffer }, c: pkijs.ICryptoEngine): Promise<void> }).parseInternalValues({ password }, engine);
          if (shrouded.parsedValue) return createPrivateKey({ key: Buffer.from(shrouded.parsedValue.toSchema().toBER(false)), format: "der", type: "pkcs8" });
        } else if (bag.bagId === OID_KEY_BAG) {
          const info = bag.bagValue as pkijs.PrivateKeyInfo;
          return createPrivateKey({ key: Buffer.from(info.toSchema().toBER(false)), format: "der", type: "pkcs8" });
        }
      }
    }
  } catch {
    throw notSupported("the PrivateKey is not a PKCS#12 (PFX) file with an empty password holding a private key");
  }
  throw notSupported("the PFX holds no private key");
}
