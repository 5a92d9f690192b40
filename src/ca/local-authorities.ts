import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { GdsConfig } from "../config/config";
import type { DataPaths } from "../config/data-folder";
import { thumbprintOf } from "../domain/thumbprint";
import type { CaRenewOptions, CertificateAuthorityPort, IssueProfile, ParsedCsrWithKey, PublicKeyInput, Signer } from "../services/ports";
import { defaultCaKeyLabel, type CaRegistry } from "./ca-registry";
import { renewSelfSigned, retireAuthorityFiles } from "./ca-rollover";
import { generateRsaKeyPair, type CertificateAuthority } from "./certificate-authority";
import { parseCertificateRequest } from "./csr";
import { issueServerCertificate, serverCertificateIssuerSerial } from "./gds-identity";
import { packagePrivateKey } from "./key-packaging";

const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** The services' view of one CA. */
function signerOf(ca: CertificateAuthority): Signer {
  return {
    caCertificateDer: ca.certificateDer,
    caSerialHex: ca.serialHex,
    caNotAfterMs: ca.certificate.notAfter.getTime(),
    chainDer: ca.chainDer,
    async signedCrl(crlDer: Buffer) {
      try {
        return await new x509.X509Crl(new Uint8Array(crlDer)).verify({ publicKey: ca.certificate.publicKey });
      } catch {
        return false;
      }
    },
    issue(publicKey: PublicKeyInput, profile: IssueProfile) {
      return ca.issueApplicationCertificateDer(publicKey, profile);
    },
    async signCrl(revoked, crlNumber, thisUpdateMs, nextUpdateMs) {
      const crl = await ca.signCrl(revoked, crlNumber, thisUpdateMs, nextUpdateMs);
      return Buffer.from(crl.rawData);
    },
  };
}

/** The certificate service's CA port over the CAs kept in the data folder. */
export class LocalAuthorities implements CertificateAuthorityPort {
  constructor(
    private readonly registry: CaRegistry,
    private readonly config: GdsConfig,
    private readonly paths: DataPaths,
    private readonly clock: { nowMs(): number },
  ) {}

  signer(groupName: string, typeName: string): Signer {
    return signerOf(this.registry.authority(groupName, typeName));
  }

  previousSigners(groupName: string, typeName: string): Signer[] {
    return this.registry.previous(groupName, typeName).map(signerOf);
  }

  signerBySerial(groupName: string, typeName: string, caSerialHex: string): Signer | null {
    const ca = [this.registry.authority(groupName, typeName), ...this.registry.previous(groupName, typeName)].find((c) => c.serialHex === caSerialHex.toLowerCase());
    return ca ? signerOf(ca) : null;
  }

  refresh(): Promise<boolean> {
    return this.registry.refresh();
  }

  async renew(groupName: string, typeName: string, options: CaRenewOptions): Promise<{ current: Signer; superseded: Signer }> {
    const current = this.registry.authority(groupName, typeName);
    await renewSelfSigned(
      this.paths.caFolder(groupName, typeName),
      current,
      {
        reuseKey: options.reuseKey,
        subject: options.subject ?? current.certificate.subject,
        keySize: this.config.caKeySize,
        lifetimeDays: this.config.caLifetimeDays,
        passphrase: this.config.caPassphrase,
        token: this.registry.caToken,
        keyLabel: defaultCaKeyLabel(groupName, typeName),
      },
      this.clock,
    );
    await this.registry.refresh();
    return { current: this.signer(groupName, typeName), superseded: signerOf(current) };
  }

  async retire(groupName: string, typeName: string, caSerialHex: string): Promise<void> {
    await retireAuthorityFiles(this.paths.caFolder(groupName, typeName), caSerialHex);
    await this.registry.refresh();
  }

  ownCertificateIssuer(): Promise<string | null> {
    return serverCertificateIssuerSerial(this.paths);
  }

  renewOwnCertificate(): Promise<void> {
    return issueServerCertificate(this.config, this.paths, this.registry);
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
