import { X509Certificate } from "node:crypto";
import { OPCUACertificateManager, StatusCodes, type StatusCode } from "node-opcua";
import { thumbprintOf } from "../domain/thumbprint";
import type { UserService } from "../services/user-service";

type StatusCallback = (err: Error | null, status?: StatusCode) => void;
type Chain = Buffer | Buffer[];

/** node-opcua calls checkCertificate both with a callback and as a promise: serve both. */
function answer(status: Promise<StatusCode>, callback?: StatusCallback): Promise<StatusCode> | undefined {
  if (!callback) return status;
  status.then(
    (s) => callback(null, s),
    (e: Error) => callback(e),
  );
  return undefined;
}

/**
 * The server's channel trust. A client whose certificate chains to a trusted CA (the GDS's own CA
 * is trusted from `init` on) is accepted; an unknown self-signed client may still open a channel,
 * where its user decides what it may do, while `acceptUnknown()` says so (no strict trust, or an
 * onboarding window is open). Revoked, expired or misused certificates stay refused either way.
 */
export class ChannelCertificateManager extends OPCUACertificateManager {
  /**
   * `acceptUnknown()` is asked at every check. `unknownVerdicts` are the verdicts of node-opcua-pki
   * that count as "unknown" rather than "bad": by default only an untrusted certificate; a device in
   * commissioning also takes a chain whose CA or CRL it does not know yet.
   */
  constructor(
    rootFolder: string,
    private readonly acceptUnknown: () => boolean,
    private readonly unknownVerdicts: readonly string[] = ["BadCertificateUntrusted"],
  ) {
    super({ rootFolder, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
  }

  override checkCertificate(chain: Chain, callback?: StatusCallback): any {
    return answer(this.decide(chain), callback);
  }

  private async decide(chain: Chain): Promise<StatusCode> {
    if (this.acceptUnknown()) {
      // Accepted unknown clients are not recorded as rejected: GetRejectedList lists only those refused.
      const verdict = await this.verifyCertificate(Buffer.concat(Array.isArray(chain) ? chain : [chain]), { acceptCertificateWithValidIssuerChain: true });
      if (verdict === "Good" || this.unknownVerdicts.includes(verdict)) return StatusCodes.Good;
    }
    return (super.checkCertificate as (c: Chain) => Promise<StatusCode>).call(this, chain);
  }
}

/**
 * Trust for X509 user tokens: a certificate is accepted when it is bound to a user in the database
 * (`user add --certificate`) and within its validity period; nothing lives in folders to drift.
 */
export class UserCertificateManager extends OPCUACertificateManager {
  constructor(
    rootFolder: string,
    private readonly users: UserService,
  ) {
    super({ rootFolder, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
  }

  override checkCertificate(chain: Chain, callback?: StatusCallback): any {
    return answer(this.decide(chain), callback);
  }

  private async decide(chain: Chain): Promise<StatusCode> {
    const der = Array.isArray(chain) ? chain[0] : chain;
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(der);
    } catch {
      return StatusCodes.BadCertificateInvalid;
    }
    const now = Date.now();
    if (now < Date.parse(certificate.validFrom) || now > Date.parse(certificate.validTo)) return StatusCodes.BadCertificateTimeInvalid;
    const user = await this.users.userOfCertificate(thumbprintOf(der));
    return user ? StatusCodes.Good : StatusCodes.BadCertificateUntrusted;
  }
}
