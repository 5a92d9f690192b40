/**
 * The client side of the issuance benchmark in a process of its own, so that the server's process
 * carries only the server's work, as when the clients are devices on the plant network.
 *
 * Forked by issuance-bench with IPC. It opens `clients` OPCUAClient connections with one admin
 * session each (SignAndEncrypt Basic256Sha256, the GDS's CA trusted), then answers messages:
 *   { type: "run", jobs: [{ applicationId, csr }] }  -> { type: "done", certificates } after every job
 *      was issued (StartSigningRequest + FinishRequest) with `clients` in flight;
 *   { type: "close" } -> closes every session and exits.
 * It first sends { type: "ready", open, refused }. CSRs and certificates travel as base64.
 */
import { CertificateClient, type DirectoryClient } from "../src/client/directory-client";
import type { TestGds } from "../test/helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../test/helpers/opcua-client";
import { ADMIN } from "./bench-kit";

export interface ClientsSetup {
  endpointUrl: string;
  dataDir: string;
  caCertificateFile: string;
  caCrlFile: string;
  clients: number;
}

export interface ClientJob {
  applicationId: string;
  csr: string;
}

export type ToClients = { type: "run"; jobs: ClientJob[] } | { type: "close" };
export type FromClients =
  | { type: "ready"; open: number; refused: string | null }
  | { type: "done"; certificates: string[] }
  | { type: "failed"; message: string };

const send = (message: FromClients) => process.send!(message);

async function main(): Promise<void> {
  const setup = JSON.parse(process.argv[2]) as ClientsSetup;
  // withDirectory needs only where the server is and which CA to trust.
  const gds = { endpointUrl: setup.endpointUrl, dataDir: setup.dataDir, caCertificateFile: setup.caCertificateFile, caCrlFile: setup.caCrlFile } as TestGds;

  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const holders: Array<Promise<unknown>> = [];
  const directories: DirectoryClient[] = [];
  let refused: string | null = null;
  for (let i = 0; i < setup.clients && refused === null; i++) {
    const opened = await new Promise<DirectoryClient | Error>((resolve) => {
      holders.push(
        withDirectory(gds, ADMIN, async (d) => {
          resolve(d);
          await released;
        }).catch((e: Error) => resolve(e)),
      );
    });
    if (opened instanceof Error) refused = `connection ${i + 1} failed: ${opened.message.replace(/\s+/g, " ").trim()}`;
    else directories.push(opened);
  }
  const pull = directories.map((d) => new CertificateClient(d));
  send({ type: "ready", open: pull.length, refused });
  // The benchmark is gone (it failed or was killed): nothing will ask for "close".
  process.once("disconnect", () => process.exit(0));

  process.on("message", (message: ToClients) => {
    if (message.type === "close") {
      release();
      void Promise.allSettled(holders)
        .then(() => disposeClientStores())
        .finally(() => process.exit(0));
      return;
    }
    const jobs = message.jobs;
    const certificates = new Array<string>(jobs.length);
    let next = 0;
    Promise.all(
      pull.map(async (c) => {
        for (let i = next++; i < jobs.length; i = next++) {
          const { applicationId, csr } = jobs[i];
          const requestId = await c.startSigningRequest(applicationId, Buffer.from(csr, "base64"));
          certificates[i] = (await c.finishRequest(applicationId, requestId)).certificate.toString("base64");
        }
      }),
    ).then(
      () => send({ type: "done", certificates }),
      (e: Error) => send({ type: "failed", message: e.message }),
    );
  });
}

main().catch((e: Error) => {
  send({ type: "failed", message: e.stack ?? e.message });
  process.exit(1);
});
