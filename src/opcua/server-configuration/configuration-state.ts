import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import fs from "node:fs/promises";
import { StatusCodes, type ISessionContext, type OPCUACertificateManager, type OPCUAServer } from "node-opcua";
import { StatusFault } from "../status-fault";
import { TrustListMasks, type TrustListContent } from "../trust-list-file";
import { afterResponse, dropAllChannels, dropUntrustedChannels, presentCertificateFiles } from "./endpoint-certificate";
import type { AppliedChange, ResolvedOptions } from "./options";
import { PkiStore, digestOf, writeFileAtomically } from "./pki-store";
import { withRetained } from "./trust-list-checks";

/** A certificate that passed UpdateCertificate's checks, waiting for ApplyChanges. */
export interface StagedCertificate {
  certificateDer: Buffer;
  /** The issuer chain, leaf's issuer first. */
  issuersDer: Buffer[];
  privateKey: KeyObject;
}

/**
 * The changes of one session waiting for ApplyChanges (OPC 10000-12 §7.10.2): "Once a transaction
 * has started in Session all other Sessions will not be able to modify TrustLists or Certificates.
 * Transactions are automatically cancelled when the Session that created it is closed or when the
 * CancelChanges Method is called."
 */
export interface Transaction {
  session: object;
  certificate: StagedCertificate | null;
  /** The whole new trust list (every list, the unchanged ones copied). */
  trustList: TrustListContent | null;
}

type SessionEvents = { once?: (event: string, listener: () => void) => unknown; status?: string };

function sessionOf(context: ISessionContext): object {
  const session = context.session;
  if (!session) throw new StatusFault(StatusCodes.BadSessionIdInvalid, "push management needs a session");
  return session;
}

function pemOf(der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/**
 * Everything push management keeps about one server: its files, the pending key of
 * CreateSigningRequest, the open transaction, and how changes are applied to the running server.
 */
export class ConfigurationState {
  readonly store: PkiStore;
  private transaction: Transaction | null = null;
  /** The key made by CreateSigningRequest(RegeneratePrivateKey), until UpdateCertificate uses it or another replaces it. */
  pendingKey: KeyObject | null = null;
  private trustListUpdatedAt = new Date();
  /** Changes being written to disk, so that a stop can wait for them (a key without its certificate helps nobody). */
  private readonly writing = new Set<Promise<unknown>>();

  constructor(
    readonly server: OPCUAServer,
    readonly manager: OPCUACertificateManager,
    readonly options: ResolvedOptions,
    readonly applicationUri: string,
    readonly certificateFile: string,
    readonly privateKeyFile: string,
  ) {
    this.store = new PkiStore(manager);
  }

  /** When the trust list in use last changed. */
  lastTrustListUpdate(): Date {
    return this.trustListUpdatedAt;
  }

  /** The server's certificate in use (the first certificate of its certificate file). */
  currentCertificate(): X509Certificate {
    return new X509Certificate(this.server.getCertificate());
  }

  /** The server's private key in use. */
  async currentPrivateKey(): Promise<KeyObject> {
    return createPrivateKey(await fs.readFile(this.privateKeyFile, "utf8"));
  }

  /** Throws Bad_TransactionPending when another session has a transaction open. */
  checkNoOtherTransaction(context: ISessionContext): void {
    const session = sessionOf(context);
    if (this.transaction && this.transaction.session !== session) {
      throw new StatusFault(StatusCodes.BadTransactionPending, "another session has changes waiting for ApplyChanges");
    }
  }

  /** Throws Bad_TransactionPending when any transaction is open (AddCertificate, RemoveCertificate: §7.8.2.6). */
  checkNoTransaction(): void {
    if (this.transaction) throw new StatusFault(StatusCodes.BadTransactionPending, "changes are waiting for ApplyChanges");
  }

  /** The caller's transaction, created when `create`; another session's: Bad_TransactionPending. */
  transactionOf(context: ISessionContext, create: true): Transaction;
  transactionOf(context: ISessionContext, create: false): Transaction | null;
  transactionOf(context: ISessionContext, create: boolean): Transaction | null {
    this.checkNoOtherTransaction(context);
    if (this.transaction || !create) return this.transaction;
    const session = sessionOf(context);
    const transaction: Transaction = { session, certificate: null, trustList: null };
    this.transaction = transaction;
    const events = session as SessionEvents;
    if (typeof events.once === "function") {
      events.once.call(session, "session_closed", () => {
        if (this.transaction === transaction) this.transaction = null;
      });
    }
    return transaction;
  }

  /** CancelChanges: forgets the caller's transaction. */
  cancel(context: ISessionContext): void {
    this.checkNoOtherTransaction(context);
    this.transaction = null;
  }

  /** The trust list the caller's next change starts from: its transaction's, or the one in use. */
  async trustListFor(context: ISessionContext): Promise<TrustListContent> {
    return this.transactionOf(context, false)?.trustList ?? (await this.store.read());
  }

  /** The CA certificates the server knows (trust list in use or staged), for chain building. */
  async knownCaCertificates(context: ISessionContext): Promise<Buffer[]> {
    const content = await this.trustListFor(context);
    return [...content.trustedCertificates, ...content.issuerCertificates];
  }

  /**
   * ApplyChanges: installs what the caller's transaction holds, trust list first, then certificate
   * and key, and answers. Once the answer has left, a new certificate drops every channel (clients
   * reconnect and meet it); a new trust list drops the channels it no longer trusts.
   */
  async apply(context: ISessionContext, actor: string): Promise<void> {
    const transaction = this.transactionOf(context, false);
    if (!transaction) return;
    this.transaction = null;
    if (transaction.trustList) {
      await this.installTrustList(transaction.trustList);
      await this.notify({ kind: "trustList", actor, detail: "ApplyChanges" });
    }
    const certificate = transaction.certificate;
    if (certificate) {
      await this.installCertificate(certificate);
      await this.notify({ kind: "certificate", actor, detail: digestOf(certificate.certificateDer) });
    }
    afterResponse(context, () => {
      if (certificate) dropAllChannels(this.server);
      else if (transaction.trustList) this.dropUntrusted();
    });
  }

  /** Resolves once no change is being written. */
  async idle(): Promise<void> {
    while (this.writing.size > 0) await Promise.allSettled([...this.writing]);
  }

  private async tracked<T>(work: Promise<T>): Promise<T> {
    this.writing.add(work);
    try {
      return await work;
    } finally {
      this.writing.delete(work);
    }
  }

  /** Writes `content` (with the retained trust) to the trust store and reloads it. */
  installTrustList(content: TrustListContent): Promise<void> {
    return this.tracked(this.writeTrustList(content));
  }

  private async writeTrustList(content: TrustListContent): Promise<void> {
    const retained = this.options.retainedTrust ? await this.options.retainedTrust() : {};
    await this.store.replace(withRetained(content, retained), TrustListMasks.All);
    await this.store.reload();
    this.trustListUpdatedAt = new Date();
  }

  /** Re-checks the open channels against the trust store, after the answer of the current call. */
  dropUntrustedAfter(context: ISessionContext): void {
    afterResponse(context, () => this.dropUntrusted());
  }

  private dropUntrusted(): void {
    dropUntrustedChannels(this.server, this.manager).catch((e: Error) => this.options.logError(`re-checking channels failed: ${e.message}`));
  }

  private installCertificate(staged: StagedCertificate): Promise<void> {
    return this.tracked(this.writeCertificate(staged));
  }

  private async writeCertificate(staged: StagedCertificate): Promise<void> {
    const keyPem = staged.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    // The chain goes with the leaf, so that clients that trust only the root can build it.
    const chainPem = [staged.certificateDer, ...staged.issuersDer].map(pemOf).join("");
    await writeFileAtomically(this.privateKeyFile, keyPem, 0o600);
    await writeFileAtomically(this.certificateFile, chainPem, 0o644);
    presentCertificateFiles(this.server, this.certificateFile, this.privateKeyFile);
    this.pendingKey = null;
  }

  /** Tells the owner about a change that took effect; its failure is logged, never the caller's. */
  async notify(change: AppliedChange): Promise<void> {
    if (!this.options.onApplied) return;
    try {
      await this.options.onApplied(change);
    } catch (e) {
      this.options.logError(`onApplied failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }
}
