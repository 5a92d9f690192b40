import type { KeyObject } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { StatusCodes } from "node-opcua";
import type { ApplicationFields } from "../../domain/application";
import { GdsError } from "../../domain/errors";
import { generateApplicationKey } from "../application-keys";
import { decodeCertificate, type CertificateInfo } from "../decoded";
import type { RemoteApplicationRecord } from "../directory-client";
import { ApprovalTimeoutError, GdsCallError, GdsClientError, GdsConnectionError } from "../errors";
import { GdsClient, type IssuedCertificate } from "../gds-client";
import { provision, readPkiStore, recoverPkiStore, type PkiManifest } from "../pki-store";
import { agentPaths, clearPending, enrolmentIdentity, loadCollected, loadPendingKey, loadState, saveCollected, savePendingKey, saveState, type AgentPaths, type AgentState } from "./agent-folder";
import { backoffMs, nextCheckMs, renewalReason, type HeldCertificate } from "./renewal-decision";

/** What the agent is told to do; every duration in milliseconds. */
export interface AgentOptions {
  /** `opc.tcp://host:port` of the GDS. */
  endpointUrl: string;
  /** The PKI store the agent keeps current. */
  store: string;
  /** The application's record, registered when the GDS does not know its ApplicationUri. */
  application: ApplicationFields;
  /** A GDS user (DiscoveryAdmin to register, CertificateAuthorityAdmin for a first certificate); none: onboarding or self. */
  user?: { userName: string; password: string };
  /** CA certificates the GDS's certificate chains to; the store's trusted certificates are added. */
  gdsCaCertificates: Buffer[];
  /** Host names and IP addresses of the certificate; default the hosts of the DiscoveryUrls. */
  hostNames?: string[];
  keySize?: number;
  /** Time between two checks when nothing else comes due. */
  intervalMs: number;
  /** Time between two FinishRequest calls while a request waits for approval. */
  pollIntervalMs: number;
  /** How long one round waits for an approval before it moves on (the request stays pending). */
  approvalWaitMs: number;
  /** Longest back-off when the GDS cannot be reached; default max(interval, 60 s). */
  maxBackoffMs?: number;
  log: (line: string) => void;
  /** Called with the staged store before it goes live; a rejection keeps the previous store. */
  beforeSwap?: (stagedFolder: string) => Promise<void>;
  /** Called after the store changed. */
  onChange?: (change: StoreChange) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** What changed in the store, for the --on-change command. */
export interface StoreChange {
  store: string;
  certificateChanged: boolean;
  trustListChanged: boolean;
  manifest: PkiManifest;
}

/** The outcome of one round. */
export interface RoundOutcome {
  /** The store was rewritten. */
  changed: boolean;
  /** Why a new certificate was requested this round, if one was. */
  renewalReason: string | null;
  /** The RequestId that still waits for approval, if any. */
  waitingForApproval: string | null;
  /** The store's manifest after the round (null when there is no certificate yet). */
  manifest: PkiManifest | null;
  /** When the next round is due (ms since the epoch). */
  nextRoundAtMs: number;
}

/** An identity the agent holds: a certificate and its key, with the certificate's issuers. */
interface Identity {
  certificate: CertificateInfo;
  privateKey: KeyObject;
  issuers: Buffer[];
}

function held(identity: Identity | null): HeldCertificate | null {
  return identity ? { notBeforeMs: identity.certificate.notBefore.getTime(), notAfterMs: identity.certificate.notAfter.getTime(), applicationUri: identity.certificate.applicationUri } : null;
}

function isStatus(e: unknown, status: { value: number }): boolean {
  return e instanceof GdsCallError && e.statusCode.value === status.value;
}

/**
 * Keeps one application's PKI store current from a GDS: registers the application if needed,
 * obtains its certificate (as a user, in an onboarding window, or renewing itself as
 * ApplicationSelfAdmin), reads its trust list, and rewrites the store atomically when anything
 * changed. `round()` does this once; `run()` repeats it on a schedule with back-off on failure.
 * The caller holds the store's lock (acquireStoreLock on agentPaths(store).lock).
 */
export class PkiAgent {
  private readonly paths: AgentPaths;
  private readonly now: () => number;

  constructor(private readonly options: AgentOptions) {
    this.paths = agentPaths(options.store);
    this.now = options.now ?? Date.now;
  }

  private get uri(): string {
    return this.options.application.applicationUri;
  }

  private async connect(identity: { certificate: Buffer; privateKey: KeyObject }, gdsTrust: { certificates: Buffer[]; crls: Buffer[] }): Promise<GdsClient> {
    return GdsClient.connect({
      endpointUrl: this.options.endpointUrl,
      gdsTrust,
      user: this.options.user,
      application: identity,
      workFolder: this.paths.connection,
      applicationName: "opcua-gds agent",
    });
  }

  /** The application's record; registered first when the GDS does not know it. */
  private async record(client: GdsClient): Promise<RemoteApplicationRecord> {
    const [found] = await client.findApplications(this.uri);
    if (found) return found;
    try {
      const applicationId = await client.registerApplication(this.options.application);
      this.options.log(`registered ${this.uri} with the GDS as ${applicationId}`);
      return { ...this.options.application, applicationId };
    } catch (e) {
      if (!isStatus(e, StatusCodes.BadUserAccessDenied)) throw e;
      throw new GdsClientError(
        `${this.uri} is not registered with the GDS, and this agent may not register it`,
        (e as GdsCallError).statusCode,
        "give --user with a user who has the DiscoveryAdmin role, register the application on the GDS, or open an onboarding window (opcua-gds onboarding open 2h)",
      );
    }
  }

  /**
   * A new certificate for `record` over `client`, or null while the request waits for approval
   * (the request and its key are kept, so the next round, or a restarted agent, collects it).
   */
  private async obtain(client: GdsClient, record: RemoteApplicationRecord, state: AgentState): Promise<Identity | null> {
    const wait = { pollIntervalMs: this.options.pollIntervalMs, timeoutMs: this.options.approvalWaitMs };
    let issued: IssuedCertificate | null = null;
    let key: KeyObject | null = null;
    try {
      if (state.pendingRequestId && state.applicationId === record.applicationId && (key = await loadPendingKey(this.paths))) {
        try {
          issued = await client.waitForCertificate(record.applicationId, state.pendingRequestId, { ...wait, privateKey: key });
        } catch (e) {
          // Unknown or already finished elsewhere: forget it and ask again.
          if (!isStatus(e, StatusCodes.BadInvalidArgument)) throw e;
          this.options.log(`the GDS no longer knows request ${state.pendingRequestId}: asking again`);
          state.pendingRequestId = null;
        }
      }
      if (!issued) {
        key = await generateApplicationKey(this.options.keySize);
        const newKey = key;
        issued = await client.requestCertificate(record, {
          ...wait,
          privateKey: newKey,
          hostNames: this.options.hostNames,
          onPending: async (requestId) => {
            await savePendingKey(this.paths, newKey);
            state.pendingRequestId = requestId;
            state.applicationId = record.applicationId;
            await saveState(this.paths, state);
            this.options.log(`certificate request ${requestId} waits for approval (opcua-gds request approve ${requestId.replace(/^ns=\d+;g=/, "")})`);
          },
        });
      }
    } catch (e) {
      if (e instanceof ApprovalTimeoutError) return null;
      if (isStatus(e, StatusCodes.BadRequestNotAllowed)) {
        state.pendingRequestId = null;
        await clearPending(this.paths);
        throw new GdsClientError(`certificate request for ${this.uri} was rejected`, (e as GdsCallError).statusCode, "an administrator of the GDS rejected it; the agent asks again next round");
      }
      throw e;
    }
    // FinishRequest delivers once: keep what it delivered until the store has it.
    const issuers = issued.issuerCertificates.map((c) => c.der);
    await saveCollected(this.paths, issued.certificate.der, issuers, issued.privateKey);
    state.pendingRequestId = null;
    await saveState(this.paths, state);
    this.options.log(`obtained certificate ${issued.certificate.serialNumber} valid until ${issued.certificate.notAfter.toISOString()}`);
    return { certificate: issued.certificate, privateKey: issued.privateKey, issuers };
  }

  /** A certificate obtained with the self-signed enrolment identity (and the user, if any). */
  private async enrol(state: AgentState, gdsTrust: { certificates: Buffer[]; crls: Buffer[] }): Promise<Identity | null> {
    const name = this.options.application.applicationNames[0]?.text ?? this.uri;
    const client = await this.connect(await enrolmentIdentity(this.paths, this.uri, name), gdsTrust);
    try {
      const record = await this.record(client);
      state.applicationId = record.applicationId;
      return await this.obtain(client, record, state);
    } finally {
      await client.close();
    }
  }

  /** One round: see the class comment. Throws on failure (the store stays as it was). */
  async round(): Promise<RoundOutcome> {
    for (const line of await recoverPkiStore(this.options.store)) this.options.log(line);
    const state = await loadState(this.paths);
    const stored = await readPkiStore(this.options.store);
    const gdsTrust = { certificates: [...this.options.gdsCaCertificates, ...stored.trustedCertificates.map((c) => c.der)], crls: stored.trustedCrls };
    if (gdsTrust.certificates.length === 0) {
      throw new GdsError("Configuration", "the agent cannot verify the GDS: give its CA certificate with --gds-ca FILE (opcua-gds ca show names it)");
    }
    const collected = await loadCollected(this.paths);
    let identity: Identity | null = collected
      ? { certificate: decodeCertificate(collected.certificate), privateKey: collected.privateKey, issuers: collected.issuers }
      : stored.certificate && stored.privateKey
        ? { certificate: stored.certificate, privateKey: stored.privateKey, issuers: stored.certificateIssuers }
        : null;
    const now = this.now();
    let reason: string | null = null;
    const valid = identity !== null && identity.certificate.applicationUri === this.uri && identity.certificate.notBefore.getTime() <= now && now < identity.certificate.notAfter.getTime();
    if (!valid) {
      // Nothing valid to present as ApplicationSelfAdmin: enrol as a newcomer (user or onboarding).
      reason = renewalReason(held(identity), this.uri, now, false);
      this.options.log(`${reason}: enrolling`);
      identity = await this.enrol(state, gdsTrust);
      if (!identity) return this.waiting(state);
    }
    let client: GdsClient;
    try {
      client = await this.connect({ certificate: identity!.certificate.der, privateKey: identity!.privateKey }, gdsTrust);
    } catch (e) {
      if (!(e instanceof GdsConnectionError) || e.failure !== "refused") throw e;
      // The GDS refuses the certificate held (revoked, say): enrol again as a newcomer would.
      reason = `the GDS refused the certificate held (${e.explanation})`;
      this.options.log(`${reason}: enrolling`);
      identity = await this.enrol(state, gdsTrust);
      if (!identity) return this.waiting(state);
      client = await this.connect({ certificate: identity.certificate.der, privateKey: identity.privateKey }, gdsTrust);
    }
    try {
      const record = await this.record(client);
      state.applicationId = record.applicationId;
      if (!collected && reason === null) {
        reason = renewalReason(held(identity), this.uri, now, await client.getCertificateStatus(record.applicationId));
        if (reason) {
          this.options.log(`${reason}: renewing as ApplicationSelfAdmin`);
          const renewed = await this.obtain(client, record, state);
          if (renewed) identity = renewed;
        }
      }
      const trustList = await client.getTrustList(record.applicationId);
      const before = stored.manifest;
      const result = await provision(
        this.options.store,
        { certificate: identity!.certificate.der, privateKey: identity!.privateKey, issuerCertificates: identity!.issuers, trustList },
        { beforeSwap: this.options.beforeSwap },
      );
      // The collected certificate is in the store now; a renewal still waiting keeps its key.
      if (!state.pendingRequestId) await clearPending(this.paths);
      if (result.changed) {
        const change: StoreChange = {
          store: this.options.store,
          certificateChanged: before?.certificate.thumbprint !== result.manifest.certificate.thumbprint,
          trustListChanged: before?.trustDigest !== result.manifest.trustDigest,
          manifest: result.manifest,
        };
        this.options.log(
          `wrote ${this.options.store}: certificate ${result.manifest.certificate.serialNumber} until ${result.manifest.certificate.notAfter}, ` +
            `${result.manifest.trustedCertificates} trusted certificate(s), ${result.manifest.trustedCrls} CRL(s)`,
        );
        await this.options.onChange?.(change);
      }
      const crlUpdates = [...trustList.trustedCrls, ...trustList.issuerCrls].flatMap((c) => (c.nextUpdate ? [c.nextUpdate.getTime()] : []));
      const nextRoundAtMs = state.pendingRequestId
        ? this.now() + this.options.pollIntervalMs
        : nextCheckMs(this.now(), this.options.intervalMs, held(identity), crlUpdates);
      await saveState(this.paths, state);
      return { changed: result.changed, renewalReason: reason, waitingForApproval: state.pendingRequestId, manifest: result.manifest, nextRoundAtMs };
    } finally {
      await client.close();
    }
  }

  private async waiting(state: AgentState): Promise<RoundOutcome> {
    await saveState(this.paths, state);
    return { changed: false, renewalReason: "no certificate yet", waitingForApproval: state.pendingRequestId, manifest: null, nextRoundAtMs: this.now() + this.options.pollIntervalMs };
  }

  /** Runs rounds until `signal` aborts: on schedule after a success, with back-off after failures. */
  async run(signal: AbortSignal): Promise<void> {
    const random = this.options.random ?? Math.random;
    const maxBackoff = this.options.maxBackoffMs ?? Math.max(this.options.intervalMs, 60_000);
    const initialBackoff = Math.min(this.options.intervalMs, 5_000);
    while (!signal.aborted) {
      const state = await loadState(this.paths);
      let nextAtMs: number;
      try {
        const outcome = await this.round();
        nextAtMs = outcome.nextRoundAtMs;
        const after = await loadState(this.paths);
        await saveState(this.paths, { ...after, lastSuccessAt: new Date(this.now()).toISOString(), consecutiveFailures: 0, nextCheckAt: new Date(nextAtMs).toISOString() });
        if (outcome.waitingForApproval) this.options.log(`waiting for approval of ${outcome.waitingForApproval}; asking again in ${Math.round((nextAtMs - this.now()) / 1000)} s`);
      } catch (e) {
        if (signal.aborted) break;
        const failures = state.consecutiveFailures + 1;
        const delay = backoffMs(failures, initialBackoff, maxBackoff, random());
        nextAtMs = this.now() + delay;
        const message = e instanceof Error ? e.message : String(e);
        const after = await loadState(this.paths);
        await saveState(this.paths, { ...after, lastFailure: { at: new Date(this.now()).toISOString(), message }, consecutiveFailures: failures, nextCheckAt: new Date(nextAtMs).toISOString() });
        this.options.log(`round failed (${failures} in a row): ${message}; next attempt in ${(delay / 1000).toFixed(1)} s`);
      }
      await sleep(Math.max(0, nextAtMs - this.now()), undefined, { signal }).catch(() => undefined);
    }
  }
}

