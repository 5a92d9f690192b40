import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { thumbprintOf } from "../domain/thumbprint";
import type { CertificateAuthorityPort, IssueProfile, ParsedCsrWithKey, Signer } from "../services/ports";
import type { CaRegistry } from "./ca-registry";
import { generateRsaKeyPair } from "./certificate-authority";
import { parseCertificateRequest } from "./csr";
import { packagePrivateKey } from "./key-packaging";

const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** The certificate service's CA port over the CAs kept in the data folder. */
export class LocalAuthorities implements CertificateAuthorityPort {
  constructor(private readonly registry: CaRegistry) {}

  signer(groupName: string, typeName: string): Signer {
    const ca = this.registry.authority(groupName, typeName);
    return {
      caCertificateDer: ca.certificateDer,
      caSerialHex: ca.certificate.serialNumber.toLowerCase(),
      chainDer: ca.chainDer,
      async signedCrl(crlDer: Buffer) {
        try {
          return await new x509.X509Crl(new Uint8Array(crlDer)).verify({ publicKey: ca.certificate.publicKey });
        } catch {
          return false;
        }
      },
      issue(publicKey: CryptoKey, profile: IssueProfile) {
        return ca.issueApplicationCertificateDer(publicKey, profile);
      },
      async signCrl(revoked, crlNumber, thisUpdateMs, nextUpdateMs) {
        const crl = await ca.signCrl(revoked, crlNumber, thisUpdateMs, nextUpdateMs);
        return Buffer.from(crl.rawData);
      },
    };
  }

  parseCsr(der: Buffer): Promise<ParsedCsrWithKey> {
    return parseCertificateRequest(der);
  }

  async generateKeyPair(bits: number): Promise<{ publicKey: CryptoKey; privateKeyPkcs8: Buffer }> {
    const keys = await generateRsaKeyPair(bits);
    return { publicKey: keys.publicKey, privateKeyPkcs8: Buffer.from(await subtle.exportKey("pkcs8", keys.privateKey)) };
  }

  async publicKeyOf(privateKeyPkcs8: Buffer): Promise<CryptoKey> {
    const privateKey = await subtle.importKey("pkcs8", new Uint8Array(privateKeyPkcs8), RSA_SHA256, true, ["sign"]);
    const jwk = await subtle.exportKey("jwk", privateKey);
    return subtle.importKey("jwk", { kty: jwk.kty, n: jwk.n, e: jwk.e, alg: jwk.alg, ext: true }, RSA_SHA256, true, ["verify"]);
  }

  packagePrivateKey(format: "PFX" | "PEM", privateKeyPkcs8: Buffer, certificateDer: Buffer, chainDer: Buffer[], password: string | null): Promise<Buffer> {
    return packagePrivateKey(format, privateKeyPkcs8, certificateDer, chainDer, password);
  }

  thumbprint(der: Buffer): string {
    return thumbprintOf(der);
  }
}
