/**
 * A stream of real issuances against a running `opcua-gds start`: several SignAndEncrypt sessions
 * as a CertificateAuthorityAdmin, each registering an application, sending its CSR and collecting
 * the certificate, again and again until told to stop. What the clients received is kept, so a
 * test can check it against what the GDS kept (after a backup, after a crash).
 */
import { X509Certificate } from "node:crypto";
import fs from "node:fs/promises";
import { CertificateClient } from "../../src/client/directory-client";
import { makeCsr, testKeyPair } from "./certificates";
import { withDirectory } from "./cli";
import { tempDir } from "./gds-fixture";
import { serverRecord } from "./records";

/** A certificate a client received from FinishRequest. */
export interface ReceivedCertificate {
  applicationId: string;
  applicationUri: string;
  requestId: string;
  serial: string;
  der: Buffer;
  /** When FinishRequest returned (ms since 1970). */
  receivedAtMs: number;
}

export interface IssuanceLoadOptions {
  endpointUrl: string;
  dataDir: string;
  user: { userName: string; password: string };
  /** Sessions issuing in parallel. */
  workers: number;
  /** Makes the application names of this load unique (`<prefix>-<n>`). */
  prefix: string;
  /** Stop after this many certificates were received (all workers together); unlimited when absent. */
  limit?: number;
}

/** A running issuance load. */
export class IssuanceLoad {
  readonly received: ReceivedCertificate[] = [];
  /** Why sessions failed (a killed server fails the calls in flight and refuses connections until it is back). */
  readonly failures: string[] = [];
  /** Failures of an open session (calls in flight cut), as opposed to connections refused. */
  interrupted = 0;
  private stopping = false;
  private next = 0;
  private inFlight = 0;
  private readonly done: Promise<void>;
  private readonly roots: string[] = [];

  private constructor(private readonly options: IssuanceLoadOptions, keys: CryptoKeyPair) {
    this.done = Promise.all(Array.from({ length: options.workers }, () => this.worker(keys))).then(() => undefined);
  }

  /** Starts the load. */
  static async start(options: IssuanceLoadOptions): Promise<IssuanceLoad> {
    return new IssuanceLoad(options, (await testKeyPair()).keys);
  }

  private more(): boolean {
    return !this.stopping && (this.options.limit === undefined || this.received.length + this.inFlight < this.options.limit);
  }

  private async worker(keys: CryptoKeyPair): Promise<void> {
    const root = await tempDir("load-pki");
    this.roots.push(root);
    while (this.more()) {
      let open = false;
      try {
        await withDirectory(this.options.endpointUrl, this.options.dataDir, root, this.options.user, async (d) => {
          open = true;
          const c = new CertificateClient(d);
          while (this.more()) {
            this.inFlight++;
            try {
              const n = `${this.options.prefix}-${++this.next}`;
              const record = serverRecord(n);
              const applicationId = await d.registerApplication(record);
              const csr = await makeCsr(keys, { uri: record.applicationUri, dns: [`plc${n}.plant1`], subject: `CN=PLC ${n}` });
              const requestId = await c.startSigningRequest(applicationId, csr);
              const finished = await c.finishRequest(applicationId, requestId);
              const serial = new X509Certificate(finished.certificate).serialNumber.toLowerCase();
              this.received.push({ applicationId, applicationUri: record.applicationUri, requestId, serial, der: finished.certificate, receivedAtMs: Date.now() });
            } finally {
              this.inFlight--;
            }
          }
        });
      } catch (e) {
        if (open) this.interrupted++;
        this.failures.push((e as Error).message);
        // The server is gone (killed, restarting): try again a moment later.
        if (this.more()) await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /** Resolves once `count` certificates were received in all. */
  async waitFor(count: number, timeoutMs = 120_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > until) throw new Error(`only ${this.received.length} of ${count} certificates within ${timeoutMs} ms; failures: ${this.failures.slice(-3).join(" | ")}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stops the workers after their current call and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
    await Promise.all(this.roots.map((r) => fs.rm(r, { recursive: true, force: true })));
  }

  /** Resolves when the load reached its limit (or was stopped). */
  async finished(): Promise<void> {
    await this.done;
  }
}
