import { X509Certificate } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
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
/** Rejected certificates kept when the owner does not say (OPCUA_GDS_MAX_REJECTED_CERTIFICATES's default). */
const DEFAULT_MAX_REJECTED = 500;

export class ChannelCertificateManager extends OPCUACertificateManager {
  private pruning: Promise<void> | null = null;
  private pruneAgain = false;
  private readonly unknownVerdicts: readonly string[];
  /** Most certificates kept in `rejected/` (node-opcua writes every unknown one there). */
  private readonly maxRejected: number;
  private readonly logError: (message: string) => void;
  private readonly catchUp: (() => Promise<void>) | null;
  private lastCatchUpMs = 0;

  /**
   * `acceptUnknown()` is asked at every check. `catchUp()` brings the trust store up to date with the
   * CAs and CRLs of the database and data folder; it is asked (at most once a second) before a client
   * is refused for an issuer the store does not know yet: a CA made by `ca renew` in another process
   * a moment ago is trusted at the first connection, not a follow-up period later. `unknownVerdicts` are the verdicts of node-opcua-pki
   * that count as "unknown" rather than "bad": by default only an untrusted certificate; a device in
   * commissioning also takes a chain whose CA or CRL it does not know yet.
   */
  constructor(
    rootFolder: string,
    private readonly acceptUnknown: () => boolean,
    options: { unknownVerdicts?: readonly string[]; maxRejected?: number; logError?: (message: string) => void; catchUp?: () => Promise<void> } = {},
  ) {
    super({ rootFolder, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
    this.unknownVerdicts = options.unknownVerdicts ?? ["BadCertificateUntrusted"];
    this.maxRejected = options.maxRejected ?? DEFAULT_MAX_REJECTED;
    this.logError = options.logError ?? (() => undefined);
    this.catchUp = options.catchUp ?? null;
  }

  override checkCertificate(chain: Chain, callback?: StatusCallback): any {
    return answer(this.decideCaughtUp(chain), callback);
  }

  /**
   * node-opcua-pki's reload empties the in-memory index and reads the folders back one file at a
   * time: a check in between would refuse a trusted client (chain incomplete, revocation unknown).
   * So reloads run one at a time, wait for the checks under way, and checks wait for a reload.
   */
  override async reloadCertificates(): Promise<void> {
    const before = this.reloading;
    const run = (async () => {
      await before?.catch(() => undefined);
      while (this.checksUnderWay > 0) await new Promise<void>((resolve) => this.checksFinished.push(resolve));
      await super.reloadCertificates();
    })();
    this.reloading = run;
    try {
      await run;
    } finally {
      if (this.reloading === run) this.reloading = null;
    }
  }

  private reloading: Promise<void> | null = null;
  private checksUnderWay = 0;
  private checksFinished: Array<() => void> = [];

  /** Runs a check against a complete index: after any reload under way, and holding off the next. */
  private async whileIndexComplete<T>(check: () => Promise<T>): Promise<T> {
    while (this.reloading) await this.reloading.catch(() => undefined);
    this.checksUnderWay++;
    try {
      return await check();
    } finally {
      if (--this.checksUnderWay === 0) for (const resolve of this.checksFinished.splice(0)) resolve();
    }
  }

  private async decideCaughtUp(chain: Chain): Promise<StatusCode> {
    const status = await this.whileIndexComplete(() => this.decide(chain));
    const now = Date.now();
    if (!this.catchUp || !status.equals(StatusCodes.BadCertificateChainIncomplete) || now - this.lastCatchUpMs < 1000) return status;
    this.lastCatchUpMs = now;
    try {
      // Outside the check: catching up reloads the index, which waits for the checks under way.
      await this.catchUp();
    } catch (e) {
      this.logError(`trust store catch-up failed: ${(e as Error).message}`);
      return status;
    }
    return this.whileIndexComplete(() => this.decide(chain));
  }

  private async decide(chain: Chain): Promise<StatusCode> {
    if (this.acceptUnknown()) {
      // Accepted unknown clients are not recorded as rejected: GetRejectedList lists only those refused.
      const verdict = await this.verifyCertificate(Buffer.concat(Array.isArray(chain) ? chain : [chain]), { acceptCertificateWithValidIssuerChain: true });
      if (verdict === "Good" || this.unknownVerdicts.includes(verdict)) return StatusCodes.Good;
    }
    const status: StatusCode = await (super.checkCertificate as (c: Chain) => Promise<StatusCode>).call(this, chain);
    if (status.equals(StatusCodes.BadCertificateUntrusted)) this.pruneRejected();
    return status;
  }

  /**
   * Keeps `rejected/` at most `maxRejected` certificates, the newest, so that clients presenting ever
   * new self-signed certificates cannot fill the disk, nor (node-opcua indexes the folder in memory)
   * the heap. Runs one prune at a time; calls meanwhile ask for one more afterwards.
   */
  pruneRejected(): Promise<void> {
    if (this.pruning) {
      this.pruneAgain = true;
      return this.pruning;
    }
    this.pruning = (async () => {
      do {
        this.pruneAgain = false;
        await this.pruneOnce().catch((e: Error) => this.logError(`pruning ${this.rejectedFolder} failed: ${e.message}`));
      } while (this.pruneAgain);
      this.pruning = null;
    })();
    return this.pruning;
  }

  private async pruneOnce(): Promise<void> {
    const names = (await fs.readdir(this.rejectedFolder).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return [];
      throw e;
    })).filter((n) => /\.(pem|der)$/i.test(n));
    if (names.length <= this.maxRejected) return;
    const files = await Promise.all(
      names.map(async (name) => {
        const file = path.join(this.rejectedFolder, name);
        return { file, mtimeMs: await fs.stat(file).then((s) => s.mtimeMs, () => 0) };
      }),
    );
    files.sort((a, b) => a.mtimeMs - b.mtimeMs || a.file.localeCompare(b.file));
    for (const f of files.slice(0, files.length - this.maxRejected)) await fs.rm(f.file, { force: true });
    // node-opcua keeps the rejected certificates in memory as well: read the folders again.
    await this.reloadCertificates();
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
