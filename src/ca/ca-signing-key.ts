import { createPublicKey, sign, webcrypto, type KeyObject } from "node:crypto";
import { GdsError } from "../domain/errors";

const subtle = webcrypto.subtle as unknown as SubtleCrypto;

/** The one signature algorithm of the GDS's CAs (every certificate type of the GDS is RSA/SHA-256). */
export const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** Where a CA private key lives, as `ca show` and the install report tell it (never a secret). */
export type CaKeyStorage = { kind: "file"; encrypted: boolean } | { kind: "pkcs11"; token: string; label: string };

/**
 * The private key of a CA, wherever it lives: every signature of a CA (its own certificate,
 * application certificates, CRLs) goes through `sign`, so that a key in a PKCS#11 token and a key
 * file are used the same way.
 */
export interface CaSigningKey {
  /** DER SubjectPublicKeyInfo of the key pair, to match it with the CA certificate. */
  readonly publicKeySpki: Buffer;
  readonly storage: CaKeyStorage;
  /** RSASSA-PKCS1-v1_5 with SHA-256 over `data`. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/**
 * A CA key read from a key file; its signatures are made in libuv's thread pool. node:crypto's
 * asynchronous sign costs the main thread a third less than WebCrypto's (no algorithm
 * normalisation per call).
 */
export class FileSigningKey implements CaSigningKey {
  private constructor(
    private readonly key: KeyObject,
    readonly publicKeySpki: Buffer,
    readonly storage: CaKeyStorage,
  ) {}

  static async fromKeyObject(key: KeyObject, keyFile: string, encrypted: boolean): Promise<FileSigningKey> {
    if (key.asymmetricKeyType !== "rsa") throw new GdsError("Configuration", `the CA key ${keyFile} is not an RSA key: the GDS signs with RSA/SHA-256`);
    return new FileSigningKey(key, createPublicKey(key).export({ type: "spki", format: "der" }), { kind: "file", encrypted });
  }

  sign(data: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      // RSASSA-PKCS1-v1_5 is node:crypto's default padding for an RSA key.
      sign("sha256", data, this.key, (error, signature) => (error ? reject(error) : resolve(new Uint8Array(signature.buffer, signature.byteOffset, signature.byteLength))));
    });
  }
}

/** The WebCrypto public key of a CaSigningKey, for @peculiar/x509 extensions (SKI) and CSRs. */
export function publicCryptoKey(key: CaSigningKey): Promise<CryptoKey> {
  return subtle.importKey("spki", new Uint8Array(key.publicKeySpki), RSA_SHA256, true, ["verify"]);
}

/**
 * What @peculiar/x509's generators (CA certificate, CRL, CSR) need to sign with a CaSigningKey: a
 * stand-in CryptoKey that names the algorithm, and a crypto whose `subtle.sign` hands the encoded
 * to-be-signed bytes to the key. Everything else is node:crypto's WebCrypto.
 */
export function x509Signing(key: CaSigningKey): { signingKey: CryptoKey; crypto: Crypto } {
  const signingKey = { algorithm: { name: RSA_SHA256.name, hash: { name: RSA_SHA256.hash } }, type: "private", extractable: false, usages: ["sign"] } as unknown as CryptoKey;
  const sign = async (_algorithm: unknown, _key: unknown, data: BufferSource): Promise<ArrayBuffer> => {
    const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
    const signature = await key.sign(bytes);
    return signature.buffer.slice(signature.byteOffset, signature.byteOffset + signature.byteLength) as ArrayBuffer;
  };
  // node:crypto's SubtleCrypto methods refuse any other `this`: bind them to the real one.
  const routed = new Proxy(subtle, {
    get: (target, name) => {
      if (name === "sign") return sign;
      const value = Reflect.get(target, name) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const crypto = {
    subtle: routed,
    getRandomValues: <T extends ArrayBufferView | null>(array: T) => webcrypto.getRandomValues(array as unknown as Uint8Array) as unknown as T,
    randomUUID: () => webcrypto.randomUUID(),
  } as unknown as Crypto;
  return { signingKey, crypto };
}
